#include "core/util/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sys/resource.h>

namespace se::profile {

namespace {

struct Sample {
    double wall = 0, user = 0, sys = 0;
};

Sample now()
{
    Sample s;
    s.wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    s.user = double(u.ru_utime.tv_sec) + double(u.ru_utime.tv_usec) * 1e-6;
    s.sys = double(u.ru_stime.tv_sec) + double(u.ru_stime.tv_usec) * 1e-6;
    return s;
}

std::atomic<bool> g_on{false};
std::mutex g_mutex;
std::vector<Figure> g_figures;    // in the order first entered
std::vector<std::size_t> g_stack; // indices into g_figures; empty: "other"
Sample g_last;                    // when time was last charged

std::size_t indexOf(const std::string &name)
{
    for (std::size_t i = 0; i < g_figures.size(); ++i)
        if (g_figures[i].phase == name)
            return i;
    g_figures.push_back({name, 0, 0, 0, 0});
    return g_figures.size() - 1;
}

// Charges the time since the last change to the phase on top of the stack ("other" when none).
void charge(const Sample &t)
{
    Figure &f = g_figures[g_stack.empty() ? indexOf("other") : g_stack.back()];
    f.wall += t.wall - g_last.wall;
    f.user += t.user - g_last.user;
    f.sys += t.sys - g_last.sys;
    g_last = t;
}

} // namespace

void enable(bool on)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    if (on && !g_on)
        g_last = now();
    g_on = on;
}

bool enabled()
{
    return g_on;
}

void reset()
{
    std::lock_guard<std::mutex> lock(g_mutex);
    g_figures.clear();
    g_stack.clear();
    g_last = now();
}

Phase::Phase(std::string name) : m_on(g_on)
{
    if (!m_on)
        return;
    const Sample t = now();
    std::lock_guard<std::mutex> lock(g_mutex);
    charge(t);
    const std::size_t i = indexOf(name);
    g_figures[i].entries += 1;
    g_stack.push_back(i);
}

Phase::~Phase()
{
    if (!m_on)
        return;
    const Sample t = now();
    std::lock_guard<std::mutex> lock(g_mutex);
    charge(t);
    if (!g_stack.empty())
        g_stack.pop_back();
}

std::vector<Figure> figures()
{
    const Sample t = now();
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_on)
        charge(t);
    return g_figures;
}

std::string format()
{
    const auto all = figures();
    Figure total{"total", 0, 0, 0, 0};
    for (const auto &f : all) {
        total.wall += f.wall;
        total.user += f.user;
        total.sys += f.sys;
    }
    std::string out;
    char b[256];
    std::snprintf(b, sizeof b, "%-34s %9s %9s %9s %6s %7s %8s\n", "phase", "wall s", "user s", "sys s", "sys %",
                  "wall %", "entries");
    out += b;
    auto row = [&](const Figure &f) {
        const double cpu = f.user + f.sys;
        std::snprintf(b, sizeof b, "%-34s %9.1f %9.1f %9.1f %5.0f%% %6.1f%% %8ld\n", f.phase.c_str(), f.wall, f.user,
                      f.sys, cpu > 0 ? 100 * f.sys / cpu : 0.0, total.wall > 0 ? 100 * f.wall / total.wall : 0.0,
                      f.entries);
        out += b;
    };
    for (const auto &f : all)
        row(f);
    row(total);
    return out;
}

} // namespace se::profile
