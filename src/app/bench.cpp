// Placeholder until the bench tool lands (overwritten by src/app/bench.cpp author).
#include <iostream>
#include "app/commands.h"
namespace livehub {
int RunBenchMain(int, char**) { std::cerr << "livehub bench: not built yet\n"; return 2; }
}  // namespace livehub
