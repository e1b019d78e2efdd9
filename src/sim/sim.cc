namespace revive::sim {}
