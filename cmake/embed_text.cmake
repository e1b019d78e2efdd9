# Writes a C++ source defining `std::string_view NAME()` (in namespace NAMESPACE) that returns the text of
# INPUT, so a binary carries a document it serves. Usage:
#   cmake -DINPUT=file -DOUTPUT=file.cc -DNAMESPACE=revive::api -DNAME=openapi_document -DHEADER=api/http_server.h -P embed_text.cmake
file(READ "${INPUT}" text)
string(FIND "${text}" ")revive_embedded\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's end marker")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake. Do not edit.\n"
  "#include \"${HEADER}\"\n\nnamespace ${NAMESPACE} {\n\n"
  "std::string_view ${NAME}() {\n  static constexpr const char text[] = R\"revive_embedded(${text})revive_embedded\";\n"
  "  return {text, sizeof(text) - 1};\n}\n\n}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
