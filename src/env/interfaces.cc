// Compiles every interface header once on its own, so each stays self-contained.
#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/step.h"
#include "env/storage.h"
