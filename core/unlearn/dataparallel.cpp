#include "core/unlearn/dataparallel.h"

#include "core/unlearn/engine.h"

#include <cstring>
#include <stdexcept>

#if SE_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1 // ProcessGroupGloo.hpp declares nothing without it
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if SE_HAVE_GLOO && SE_HAVE_NCCL
// A LibTorch built with CUDA and NCCL (CMake defines SE_HAVE_NCCL where it has ProcessGroupNCCL.hpp and torch_cuda):
// a CUDA model's gradients and starting weights go over NCCL, device to device.
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace se::unlearn {

namespace {
std::unique_ptr<DataParallel> g_group;

double seconds(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

#if SE_HAVE_GLOO
struct DataParallel::Impl {
    c10::intrusive_ptr<c10d::TCPStore> store;
    // The step's collectives (the short time-out), and the meetings' (the patience): a second group over the same
    // store, so that a rank waiting for rank 0's evaluation still hears at once of a rank that has gone away.
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group, patient;
#if SE_HAVE_NCCL
    // Made at the first collective on CUDA tensors (every rank trains on the same kind of device, so every rank
    // makes it at the same step); NCCL sets its communicator up then, on the rank's current device.
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};
#else
struct DataParallel::Impl {
};
#endif

DataParallel *DataParallel::current()
{
    return g_group.get();
}

void DataParallel::leave()
{
    g_group.reset();
}

void DataParallel::join(const se::dist::Rendezvous &r, std::chrono::milliseconds timeout,
                        std::chrono::milliseconds patience)
{
    g_group.reset();
    if (!r.distributed())
        return;
    g_group.reset(new DataParallel(r, timeout, patience));
}

DataParallel::~DataParallel() = default;

#if SE_HAVE_GLOO

namespace {
// The collectives' errors (Gloo's, c10d's) say "Connection closed by peer" or "Timed out"; this says what that
// means for a run.
[[noreturn]] void collectiveFailed(const se::dist::Rendezvous &r, const char *what, std::chrono::milliseconds timeout,
                                   const std::string &why)
{
    throw std::runtime_error("data-parallel " + std::string(what) + " failed on " + r.describe() +
                             ": another rank stopped, or did not answer within " +
                             std::to_string(timeout.count() / 1000) + " s (" + why + ")");
}

std::string firstLine(const std::string &s)
{
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

bool loopback(const std::string &host)
{
    return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}
} // namespace

DataParallel::DataParallel(const se::dist::Rendezvous &r, std::chrono::milliseconds timeout,
                           std::chrono::milliseconds patience)
    : m_r(r), m_timeout(timeout), m_patience(patience), m(std::make_unique<Impl>())
{
    try {
        c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(r.masterPort);
        so.isServer = r.rank == 0;
        so.numWorkers = static_cast<std::size_t>(r.worldSize);
        so.waitWorkers = true;
        so.timeout = timeout;
        m->store = c10::make_intrusive<c10d::TCPStore>(r.masterAddr, so);
        std::shared_ptr<::gloo::transport::Device> device;
        if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
            device = c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
        else if (loopback(r.masterAddr))
            device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
        else
            device = c10d::ProcessGroupGloo::createDefaultDevice();
        auto options = [&](std::chrono::milliseconds t) {
            auto o = c10d::ProcessGroupGloo::Options::create(t);
            o->threads = 1; // one collective at a time: a second thread would only spin
            o->devices.push_back(device);
            return o;
        };
        m->group = c10::make_intrusive<c10d::ProcessGroupGloo>(m->store, r.rank, r.worldSize, options(timeout));
        m->patient = c10::make_intrusive<c10d::ProcessGroupGloo>(
            c10::make_intrusive<c10d::PrefixStore>("se-meet", m->store), r.rank, r.worldSize, options(patience));
    } catch (const c10::Error &e) {
        throw std::runtime_error("cannot join the data-parallel group as " + r.describe() + ": " +
                                 firstLine(e.what_without_backtrace()));
    } catch (const std::exception &e) {
        throw std::runtime_error("cannot join the data-parallel group as " + r.describe() + ": " + firstLine(e.what()));
    }
}

bool DataParallel::deviceCollectives(const torch::Device &device)
{
#if SE_HAVE_NCCL
    if (!device.is_cuda())
        return false;
    if (!m->nccl) {
        try {
            auto o = c10d::ProcessGroupNCCL::Options::create();
            o->timeout = m_timeout;
            m->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
                c10::make_intrusive<c10d::PrefixStore>("se-nccl", m->store), m_r.rank, m_r.worldSize, o);
        } catch (const std::exception &e) {
            throw std::runtime_error("cannot make the NCCL group as " + m_r.describe() + ": " + firstLine(e.what()));
        }
        m_backend = "NCCL";
    }
    return true;
#else
    (void)device;
    return false;
#endif
}

namespace {
// One all-reduce (sum) or broadcast from rank 0 on `group`, waited for; a failure names what it was.
template <class Group>
void collective(Group &group, bool broadcast, std::vector<at::Tensor> &ts, const se::dist::Rendezvous &r,
                const char *what, std::chrono::milliseconds timeout)
{
    try {
        auto work = broadcast ? group.broadcast(ts) : group.allreduce(ts);
        work->wait(timeout);
    } catch (const std::exception &e) {
        collectiveFailed(r, what, timeout, firstLine(e.what()));
    }
}
} // namespace

void DataParallel::onDevice(bool broadcast, std::vector<at::Tensor> &ts, const char *what)
{
#if SE_HAVE_NCCL
    if (!ts.empty() && deviceCollectives(ts.front().device())) {
        collective(*m->nccl, broadcast, ts, m_r, what, m_timeout);
        return;
    }
#endif
    collective(*m->group, broadcast, ts, m_r, what, m_timeout);
}

std::vector<double> DataParallel::sum(const std::vector<double> &values)
{
    const auto t0 = std::chrono::steady_clock::now();
    auto t = torch::tensor(values, torch::kDouble);
    std::vector<at::Tensor> ts{t};
    collective(*m->group, false, ts, m_r, "all-reduce of the step's losses", m_timeout); // a few numbers: Gloo
    m_seconds += seconds(t0);
    ++m_count;
    const double *p = t.data_ptr<double>();
    return std::vector<double>(p, p + values.size());
}

void DataParallel::averageGradients(const std::vector<torch::Tensor> &params)
{
    const auto t0 = std::chrono::steady_clock::now();
    int64_t n = 0;
    for (const auto &p : params)
        n += p.numel();
    // On the parameters' device when NCCL moves it (CUDA), else through the host for Gloo.
    const torch::Device where =
        !params.empty() && deviceCollectives(params.front().device()) ? params.front().device() : torch::kCPU;
    auto flat = torch::zeros({n}, torch::TensorOptions().dtype(torch::kFloat).device(where));
    {
        int64_t at = 0;
        for (const auto &p : params) {
            const auto k = p.numel();
            if (p.grad().defined())
                flat.slice(0, at, at + k).copy_(p.grad().reshape({k}));
            at += k;
        }
    }
    std::vector<at::Tensor> ts{flat};
    onDevice(false, ts, "all-reduce of the gradients");
    flat.div_(double(m_r.worldSize));
    int64_t at = 0;
    for (const auto &p : params) {
        const auto k = p.numel();
        auto g = flat.slice(0, at, at + k).view(p.sizes());
        if (p.grad().defined())
            p.mutable_grad().copy_(g);
        else
            p.mutable_grad() = g.to(p.device(), p.scalar_type()).clone();
        at += k;
    }
    m_seconds += seconds(t0);
    ++m_count;
    m_gradientBytes = n * 4;
}

void DataParallel::broadcastFromRank0(const std::vector<torch::Tensor> &tensors)
{
    torch::NoGradGuard ng;
    for (const auto &t : tensors) {
        const torch::Device where = deviceCollectives(t.device()) ? t.device() : torch::kCPU;
        auto copy = t.detach().to(where, /*non_blocking=*/false, /*copy=*/true).contiguous();
        std::vector<at::Tensor> ts{copy};
        onDevice(true, ts, "broadcast of the starting weights");
        t.detach().copy_(copy);
    }
    ++m_count;
}

void DataParallel::meet(const std::string &what)
{
    // An all-reduce of one number on the patient group: every rank must get here, and a rank whose process has
    // ended breaks it at once (its connections close), whatever the patience.
    std::vector<at::Tensor> ts{torch::ones({1}, torch::kFloat)};
    try {
        m->patient->allreduce(ts)->wait(m_patience);
    } catch (const std::exception &e) {
        throw std::runtime_error("data-parallel ranks did not meet " + what + " (" + m_r.describe() +
                                 "): another rank stopped, or did not come within " +
                                 std::to_string(m_patience.count() / 1000) + " s (" + firstLine(e.what()) + ")");
    }
}

#else

DataParallel::DataParallel(const se::dist::Rendezvous &r, std::chrono::milliseconds timeout,
                           std::chrono::milliseconds patience)
    : m_r(r), m_timeout(timeout), m_patience(patience)
{
    throw std::runtime_error("cannot join the data-parallel group as " + r.describe() +
                             ": this build has no Gloo (install libgloo-dev and rebuild)");
}
bool DataParallel::deviceCollectives(const torch::Device &)
{
    return false;
}
void DataParallel::onDevice(bool, std::vector<at::Tensor> &, const char *)
{
}
std::vector<double> DataParallel::sum(const std::vector<double> &v)
{
    return v;
}
void DataParallel::averageGradients(const std::vector<torch::Tensor> &)
{
}
void DataParallel::broadcastFromRank0(const std::vector<torch::Tensor> &)
{
}
void DataParallel::meet(const std::string &)
{
}

#endif

} // namespace se::unlearn

namespace se::engine {

se::dist::Rendezvous joinDataParallel(int timeoutSeconds, int patienceSeconds)
{
    const auto r = se::dist::rendezvousFromEnvironment();
    se::unlearn::DataParallel::join(r, std::chrono::seconds(std::max(1, timeoutSeconds)),
                                    std::chrono::seconds(std::max(1, patienceSeconds)));
    return r;
}

void leaveDataParallel()
{
    se::unlearn::DataParallel::leave();
}

DataParallelStats dataParallelStats()
{
    DataParallelStats s;
    if (const auto *dp = se::unlearn::DataParallel::current()) {
        s.collectiveSeconds = dp->collectiveSeconds();
        s.collectives = dp->collectiveCount();
        s.gradientBytes = dp->gradientBytes();
        s.steps = dp->steps();
        s.stepSeconds = dp->stepSeconds();
        s.backend = dp->backend();
    }
    return s;
}

std::string dataParallelBackends()
{
#if SE_HAVE_GLOO && SE_HAVE_NCCL
    return "Gloo, NCCL";
#elif SE_HAVE_GLOO
    return "Gloo";
#else
    return "";
#endif
}

} // namespace se::engine
