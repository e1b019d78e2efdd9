// `revive token new NAME --role ROLE`: makes an API token (api/auth.h). Prints the token once (it is stored
// nowhere) and the line to add to the daemon's api.tokens_file, which holds only the token's SHA-256.
#include <iostream>
#include <memory>

#include "api/auth.h"
#include "cli.h"

namespace revive::cli {

void add_token_commands(CLI::App& app) {
  auto* token =
      app.add_subcommand("token", "API tokens for revived (docs/api.md \"Authentication and roles\")");
  token->require_subcommand(1);
  struct Options {
    std::string name;
    std::string role = "viewer";
  };
  auto options = std::make_shared<Options>();
  auto* make = token->add_subcommand("new", "Make a token: prints it once and the line for api.tokens_file");
  make->add_option("NAME", options->name, "Who will use it (recorded with every change it makes)")
      ->required();
  make->add_option("--role", options->role, "viewer (default) | operator | admin")
      ->check(CLI::IsMember({"viewer", "operator", "admin"}));
  make->callback([options] {
    auto role = *api::parse_role(options->role);
    std::string secret = api::make_token();
    std::string line = api::token_line(options->name, role, secret);
    try {
      api::TokenTable::parse(line, "NAME");  // the same checks as the daemon's
    } catch (const api::TokenFileError& error) {
      std::string message = error.what();
      throw InputError(message.substr(message.find(": ") + 2));
    }
    std::cout
        << "token: " << secret << "\n"
        << "tokens_file line: " << line << "\n"
        << "The token is shown only now: keep it in a file only its user can read (revive --token-file).\n"
        << "Add the line to the daemon's api.tokens_file and restart revived.\n";
  });
}

}  // namespace revive::cli
