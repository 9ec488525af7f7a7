// Where a run's time goes: wall, user and system CPU time per phase (vanilla training, unlearning steps, each
// evaluation's generation and judging, store writes, model loading), for `--profile`. Phases nest; the time spent
// inside an inner phase counts for the inner one alone, so the figures add up to the whole. CPU times are the
// process's (getrusage), so they include the BLAS worker threads; phases are meant to be entered by one thread at a
// time (a run's), which is how `run` and `reproduce` use them. Off (and nearly free) unless enabled.
#pragma once

#include <string>
#include <vector>

namespace se::profile {

void enable(bool on = true);
bool enabled();
void reset();

// Times a phase from construction to destruction (when profiling is on).
class Phase
{
public:
    explicit Phase(std::string name);
    ~Phase();
    Phase(const Phase &) = delete;
    Phase &operator=(const Phase &) = delete;

private:
    bool m_on;
};

struct Figure {
    std::string phase;
    double wall = 0, user = 0, sys = 0; // seconds
    long entries = 0;                   // times the phase was entered
};
// Every phase entered since enable() or reset(), in the order first entered; time outside any phase is "other".
std::vector<Figure> figures();
// A table: phase, wall, user, sys, sys share of CPU, entries; and the totals.
std::string format();

} // namespace se::profile
