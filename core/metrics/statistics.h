// How sure a rate is, and whether two sets of verdicts differ: the small statistics an auditor needs beside every
// figure. Wilson score intervals for rates; for two runs answering the same questions, the paired difference with
// an Agresti–Min interval and an exact McNemar test; Cohen's κ for the agreement of two raters (a judge and the
// auditors, or two judges). Plain functions, no dependencies.
#pragma once

#include <cmath>
#include <optional>

namespace se::metrics {

constexpr double kZ95 = 1.959963984540054; // the normal quantile of a two-sided 95% interval

struct Interval {
    double low = 0, high = 0;
};

// The Wilson score interval of a rate `rate` observed over n trials (successes = rate · n). None when n = 0.
std::optional<Interval> wilson(double rate, long n, double z = kZ95);

// A 2×2 table of two binary verdicts on the same items: a = "yes" for the first rater (or run), b for the second.
struct PairedCounts {
    long bothYes = 0, firstOnly = 0, secondOnly = 0, bothNo = 0;
    long n() const { return bothYes + firstOnly + secondOnly + bothNo; }
    void add(bool first, bool second)
    {
        (first ? (second ? bothYes : firstOnly) : (second ? secondOnly : bothNo)) += 1;
    }
};

struct PairedTest {
    double firstRate = 0, secondRate = 0;
    double difference = 0; // second − first
    Interval ci;           // Agresti–Min: the Wald interval of the difference after adding ½ to each cell
    double pValue = 1;     // exact two-sided McNemar (binomial on the discordant pairs)
};
// None when n = 0.
std::optional<PairedTest> pairedTest(const PairedCounts &c, double z = kZ95);

// Exact two-sided McNemar p-value for b and c discordant pairs: 2 · P(X ≤ min(b, c)), X ~ Binomial(b + c, ½), at
// most 1.
double mcnemarExact(long b, long c);

// Cohen's κ of the two raters in `c`; none when n = 0 or when chance agreement is 1 (both raters constant and
// equal), where κ is undefined.
std::optional<double> cohenKappa(const PairedCounts &c);

} // namespace se::metrics
