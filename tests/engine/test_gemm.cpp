// The models' linear layers on the CPU (core/model/gemm.h): oneDNN's sgemm with a backward of its own must give what
// LibTorch's linear gives — outputs and every gradient — for the shapes the models use and the awkward ones.
#include "core/model/gemm.h"

#include <QtTest>
#include <thread>

#include <torch/torch.h>

using se::model::denseLinear;

namespace {
double maxRelDiff(const torch::Tensor &a, const torch::Tensor &b)
{
    if (!a.defined() || !b.defined())
        return a.defined() == b.defined() ? 0.0 : 1e30;
    if (a.sizes() != b.sizes())
        return 1e30;
    if (b.numel() == 0)
        return 0.0;
    const double scale = std::max(1.0, b.abs().max().item<double>());
    return (a - b).abs().max().item<double>() / scale;
}

struct Grads {
    torch::Tensor y, gx, gw, gb;
};

// y and the gradients of sum(y · r) (r fixed random) through `f`.
Grads run(bool dense, const torch::Tensor &x0, const torch::Tensor &w0, const torch::Tensor &b0, bool gradX, bool gradW)
{
    auto x = x0.detach().clone().set_requires_grad(gradX);
    auto w = w0.detach().clone().set_requires_grad(gradW);
    auto b = b0.defined() ? b0.detach().clone().set_requires_grad(true) : torch::Tensor();
    Grads g;
    g.y = dense ? denseLinear(x, w, b) : torch::nn::functional::linear(x, w, b);
    torch::manual_seed(7);
    const auto r = torch::randn(g.y.sizes());
    if (g.y.requires_grad())
        (g.y * r).sum().backward();
    g.gx = x.grad();
    g.gw = w.grad();
    g.gb = b.defined() ? b.grad() : torch::Tensor();
    return g;
}

void compare(const torch::Tensor &x, const torch::Tensor &w, const torch::Tensor &b, bool gradX = true,
             bool gradW = true)
{
    const Grads d = run(true, x, w, b, gradX, gradW), a = run(false, x, w, b, gradX, gradW);
    QCOMPARE(d.y.sizes().vec(), a.y.sizes().vec());
    QVERIFY2(maxRelDiff(d.y, a.y) < 1e-5, qPrintable(QString::number(maxRelDiff(d.y, a.y))));
    QVERIFY2(maxRelDiff(d.gx, a.gx) < 1e-5, qPrintable(QString::number(maxRelDiff(d.gx, a.gx))));
    QVERIFY2(maxRelDiff(d.gw, a.gw) < 1e-5, qPrintable(QString::number(maxRelDiff(d.gw, a.gw))));
    QVERIFY2(maxRelDiff(d.gb, a.gb) < 1e-5, qPrintable(QString::number(maxRelDiff(d.gb, a.gb))));
    QCOMPARE(d.gx.defined(), gradX);
    QCOMPARE(d.gw.defined(), gradW);
}
} // namespace

class TestGemm : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void backendIsNamed()
    {
        // Debian's LibTorch carries oneDNN (libdnnl.so.2) with its C API exported; a pip LibTorch may not.
        const QString label = QString::fromStdString(se::model::gemmBackend());
        QVERIFY2(se::model::oneDnnGemm() ? label.startsWith("oneDNN sgemm") : label.startsWith("LibTorch"),
                 qPrintable(label));
    }

    void sameAsLibTorchLinear()
    {
        if (!se::model::oneDnnGemm()) // denseLinear() is LibTorch's linear then: the comparison would be with itself
            QSKIP(("denseLinear() takes LibTorch's linear here (" + se::model::gemmBackend() + ")").c_str());
        torch::manual_seed(1);
        // The built-in model's shapes: the fused q/k/v, the MLP, the tied head on answer rows, the projector.
        compare(torch::randn({4, 61, 128}), torch::randn({384, 128}) * 0.05, torch::randn({384}));
        compare(torch::randn({4, 61, 512}), torch::randn({128, 512}) * 0.05, torch::randn({128}));
        compare(torch::randn({37, 128}), torch::randn({600, 128}) * 0.05, torch::Tensor());
        compare(torch::randn({2, 16, 128}), torch::randn({128, 128}) * 0.05, torch::randn({128}));
        // One row (generation of one answer), and a large K.
        compare(torch::randn({1, 1, 128}), torch::randn({600, 128}), torch::Tensor());
        compare(torch::randn({8, 4096}), torch::randn({16, 4096}) * 0.01, torch::randn({16}));
    }

    void awkwardInputs()
    {
        if (!se::model::oneDnnGemm())
            QSKIP(("denseLinear() takes LibTorch's linear here (" + se::model::gemmBackend() + ")").c_str());
        torch::manual_seed(2);
        // Not contiguous: a transposed input and a sliced weight.
        compare(torch::randn({128, 32}).t(), torch::randn({64, 128}), torch::randn({64}));
        compare(torch::randn({5, 7}), torch::randn({12, 14}).slice(1, 0, 14, 2), torch::randn({12}));
        // No rows at all.
        compare(torch::randn({0, 16}), torch::randn({8, 16}), torch::randn({8}));
        compare(torch::randn({3, 0, 16}), torch::randn({8, 16}), torch::Tensor());
        // Only one side trained: frozen weights (LoRA) or a frozen input (the first layer).
        compare(torch::randn({6, 16}), torch::randn({8, 16}), torch::randn({8}), true, false);
        compare(torch::randn({6, 16}), torch::randn({8, 16}), torch::randn({8}), false, true);
    }

    void withoutGradientsAndOnOtherTypes()
    {
        torch::manual_seed(3);
        const auto x = torch::randn({9, 32}), w = torch::randn({20, 32}), b = torch::randn({20});
        {
            torch::NoGradGuard ng; // generation
            const auto y = denseLinear(x, w, b);
            QVERIFY(!y.requires_grad());
            QVERIFY(maxRelDiff(y, torch::nn::functional::linear(x, w, b)) < 1e-5);
        }
        // float64 and bfloat16 take LibTorch's linear, unchanged.
        const auto y64 = denseLinear(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble));
        QCOMPARE(y64.scalar_type(), torch::kDouble);
        QVERIFY(torch::equal(
            y64, torch::nn::functional::linear(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble))));
        const auto y16 = denseLinear(x.to(torch::kBFloat16), w.to(torch::kBFloat16));
        QCOMPARE(y16.scalar_type(), torch::kBFloat16);
    }

    void bfloat16RowsAndPadding_data()
    {
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("in");
        QTest::addColumn<int>("out");
        QTest::addColumn<bool>("bias");
        // One or two rows take the engine's dot-product kernel (AVX512-BF16 CPUs), from three rows oneDNN's product,
        // on rows padded to a multiple of 16: awkward sizes on both sides.
        QTest::newRow("one row") << 1 << 4096 << 1000 << false;
        QTest::newRow("one row, short K, bias") << 1 << 45 << 13 << true;
        QTest::newRow("two rows, K not of 32") << 2 << 100 << 37 << true;
        QTest::newRow("three rows") << 3 << 64 << 40 << false;
        QTest::newRow("17 rows, padded") << 17 << 96 << 50 << true;
        QTest::newRow("32 rows, not padded") << 32 << 96 << 50 << false;
    }

    void bfloat16RowsAndPadding()
    {
        QFETCH(int, rows);
        QFETCH(int, in);
        QFETCH(int, out);
        QFETCH(bool, bias);
        torch::manual_seed(rows * 1000 + in);
        torch::NoGradGuard ng; // generation and scoring
        const auto x = torch::randn({1, rows, in}).to(torch::kBFloat16);
        const auto w = (torch::randn({out, in}) * 0.1).to(torch::kBFloat16);
        const auto b = bias ? torch::randn({out}).to(torch::kBFloat16) : torch::Tensor();
        const auto y = denseLinear(x, w, b);
        QCOMPARE(y.scalar_type(), torch::kBFloat16);
        QCOMPARE(y.sizes().vec(), (std::vector<int64_t>{1, rows, out}));
        // The exact products of the same bfloat16 numbers in float64: every path rounds once to bfloat16 at the end
        // (within an ulp: 2^-8 of the value), after float32 sums.
        const auto exact = torch::nn::functional::linear(x.to(torch::kDouble), w.to(torch::kDouble),
                                                         bias ? b.to(torch::kDouble) : torch::Tensor());
        const double err = ((y.to(torch::kDouble) - exact).abs() / (exact.abs() + 1e-2)).max().item<double>();
        QVERIFY2(err < 1.0 / 128, qPrintable(QString::number(err)));
    }

    void fewQueryAttentionAsLibTorch()
    {
        // A decoding step's attention over a KV cache's views (positions strided inside a larger buffer), float32 and
        // bfloat16 caches, a padding mask: as softmax(q·kᵀ·scale + mask)·v in LibTorch, in float64.
        torch::manual_seed(5);
        torch::NoGradGuard ng;
        for (const auto dtype : {torch::kFloat, torch::kBFloat16})
            for (int64_t tq : {1, 3}) {
                const auto q = torch::randn({2, 4, tq, 40});
                const auto kBuf = torch::randn({2, 4, 50, 40}).to(dtype), vBuf = torch::randn({2, 4, 50, 40}).to(dtype);
                const auto k = kBuf.narrow(2, 0, 37), v = vBuf.narrow(2, 0, 37);
                auto mask = torch::zeros({2, 1, tq, 37});
                mask.narrow(3, 0, 5).select(0, 1).fill_(std::numeric_limits<float>::lowest()); // row 1: 5 pads
                const auto got = se::model::fewQueryAttention(q, k, v, mask, 0.125);
                const auto s = torch::matmul(q.to(torch::kDouble), k.to(torch::kDouble).transpose(-2, -1)) * 0.125 +
                               mask.to(torch::kDouble);
                const auto want = torch::matmul(torch::softmax(s, -1), v.to(torch::kDouble));
                QCOMPARE(got.sizes().vec(), want.sizes().vec());
                QVERIFY2(maxRelDiff(got.to(torch::kDouble), want) < 1e-5,
                         qPrintable(QString::number(maxRelDiff(got.to(torch::kDouble), want))));
            }
    }

    void fusedSoftmaxAsLibTorch()
    {
        // softmax(raw · scale + mask) rounded to bfloat16, as LibTorch's ops give it: widths that are and are not
        // multiples of 16, a mask per batch row and one broadcast, a row masked whole (uniform, not NaN), no mask.
        torch::manual_seed(6);
        torch::NoGradGuard ng;
        for (int64_t tk : {5, 16, 37, 649})
            for (int64_t maskBatch : {0, 1, 2}) {
                const auto raw = (torch::randn({2, 3, 7, tk}) * 20).to(torch::kBFloat16);
                torch::Tensor mask;
                if (maskBatch > 0) {
                    mask = torch::zeros({maskBatch, 1, 7, tk});
                    mask.narrow(3, 0, std::min<int64_t>(3, tk))
                        .select(0, maskBatch - 1)
                        .fill_(std::numeric_limits<float>::lowest());
                    mask.select(2, 6).fill_(std::numeric_limits<float>::lowest()); // a row of padding only
                }
                const auto got = se::model::scaledMaskedSoftmax(raw, mask, 0.088);
                auto s = raw.to(torch::kDouble) * 0.088;
                if (mask.defined())
                    s = s + mask.to(torch::kDouble);
                const auto want = torch::softmax(s, -1);
                QCOMPARE(got.scalar_type(), torch::kBFloat16);
                QCOMPARE(got.sizes().vec(), want.sizes().vec());
                QVERIFY(torch::isfinite(got).all().item<bool>());
                // rounding to bfloat16 is the only difference: half a unit in the last place, 2^-9 of the value
                const double err = ((got.to(torch::kDouble) - want).abs() / (want.abs() + 1e-30)).max().item<double>();
                QVERIFY2(err <= 1.0 / 256, qPrintable(QString("width %1: %2").arg(tk).arg(err)));
            }
    }

    void fusedSiluMulAsLibTorch()
    {
        torch::manual_seed(8);
        torch::NoGradGuard ng;
        for (int64_t n : {1, 15, 16, 33, 11008}) {
            auto g = (torch::randn({3, n}) * 6).to(torch::kBFloat16), u = torch::randn({3, n}).to(torch::kBFloat16);
            g.view({-1})[0] = -200.0f; // e^200 overflows: silu is -0, not NaN
            const auto got = se::model::siluMul(g, u);
            // silu in float32 rounded to bfloat16, then the product rounded: within two half-units in the last place
            // of the exact value, 2^-7 of it (LibTorch 1.13's bfloat16 silu rounds after each of its three
            // operations and is off by up to three units; transformers on PyTorch 2 computes it in float32)
            const auto gd = g.to(torch::kDouble);
            const auto exact = gd / (1 + torch::exp(-gd)) * u.to(torch::kDouble);
            QCOMPARE(got.scalar_type(), torch::kBFloat16);
            QVERIFY(torch::isfinite(got).all().item<bool>());
            const double err = ((got.to(torch::kDouble) - exact).abs() / (exact.abs() + 1e-30)).max().item<double>();
            QVERIFY2(err <= 1.0 / 128, qPrintable(QString("width %1: %2").arg(n).arg(err)));
            QCOMPARE(got[0][0].item<float>(), -0.0f); // e^200 overflows: silu(-200) is 0, not NaN
        }
        // with gradients wanted, LibTorch's own ops (and their backward)
        torch::AutoGradMode gradients(true);
        auto g = torch::randn({4, 20}).to(torch::kBFloat16).set_requires_grad(true);
        auto u = torch::randn({4, 20}).to(torch::kBFloat16);
        se::model::siluMul(g, u).sum().backward();
        QVERIFY(g.grad().defined());
    }

    void threadsAreTheEnginesAndLeftAsFound()
    {
        torch::manual_seed(4);
        const auto x = torch::randn({300, 256}), w = torch::randn({512, 256}), b = torch::randn({512});
        const int before = at::get_num_threads();
        se::model::setGemmThreads(1);
        const auto one = denseLinear(x, w, b);
        se::model::setGemmThreads(2);
        const auto two = denseLinear(x, w, b);
        se::model::setGemmThreads(1);
        QVERIFY(maxRelDiff(one, two) < 1e-5);
        QCOMPARE(at::get_num_threads(), before); // LibTorch's own loops keep their setting
        // The same inputs on the same threads: the same bits.
        QVERIFY(torch::equal(one, denseLinear(x, w, b)));
    }

    // The decoding and attention kernels' loops run on every thread LibTorch's pool has (their source must be
    // compiled with OpenMP: without it they ran on one, and a 7B decoding step took twice the time).
    void kernelsUseLibTorchsThreads()
    {
        if (std::thread::hardware_concurrency() < 2)
            QSKIP("one core: nothing to spread over");
        const int before = at::get_num_threads();
        at::set_num_threads(2);
        const int used = se::model::kernelThreads(8);
        at::set_num_threads(before);
        QCOMPARE(used, 2);
    }
};

QTEST_GUILESS_MAIN(TestGemm)
#include "test_gemm.moc"
