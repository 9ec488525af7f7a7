#include "core/metrics/statistics.h"

#include <algorithm>

namespace se::metrics {

std::optional<Interval> wilson(double rate, long n, double z)
{
    if (n <= 0)
        return std::nullopt;
    const double p = std::clamp(rate, 0.0, 1.0), nn = double(n), z2 = z * z;
    const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return Interval{std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double mcnemarExact(long b, long c)
{
    const long m = b + c;
    if (m == 0)
        return 1;
    const long k = std::min(b, c);
    // Sum the binomial tail in log space: C(m, i) / 2^m for i = 0..k.
    double tail = 0;
    for (long i = 0; i <= k; ++i)
        tail += std::exp(std::lgamma(double(m) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(m - i) + 1) -
                         double(m) * std::log(2.0));
    return std::min(1.0, 2 * tail);
}

std::optional<PairedTest> pairedTest(const PairedCounts &c, double z)
{
    const long n = c.n();
    if (n == 0)
        return std::nullopt;
    PairedTest t;
    t.firstRate = double(c.bothYes + c.firstOnly) / double(n);
    t.secondRate = double(c.bothYes + c.secondOnly) / double(n);
    t.difference = t.secondRate - t.firstRate;
    // Agresti & Min (2005): add 1/2 to each of the four cells, then the Wald interval of the paired difference.
    const double nn = double(n) + 2, b = double(c.firstOnly) + 0.5, cc = double(c.secondOnly) + 0.5;
    const double d = (cc - b) / nn;
    const double se = std::sqrt(std::max(0.0, (b + cc) - (cc - b) * (cc - b) / nn)) / nn;
    t.ci = {std::max(-1.0, d - z * se), std::min(1.0, d + z * se)};
    t.pValue = mcnemarExact(c.firstOnly, c.secondOnly);
    return t;
}

std::optional<double> cohenKappa(const PairedCounts &c)
{
    const double n = double(c.n());
    if (n == 0)
        return std::nullopt;
    const double po = double(c.bothYes + c.bothNo) / n;
    const double firstYes = double(c.bothYes + c.firstOnly) / n, secondYes = double(c.bothYes + c.secondOnly) / n;
    const double pe = firstYes * secondYes + (1 - firstYes) * (1 - secondYes);
    if (pe >= 1)
        return std::nullopt;
    return (po - pe) / (1 - pe);
}

} // namespace se::metrics
