namespace revive::exec {}
