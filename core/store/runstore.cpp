// The SQLite run store (see runstore.h).
#include "core/store/runstore.h"

#include "core/data/pathguard.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <map>
#include <random>
#include <unistd.h>

namespace se::store {

namespace {

std::string newUid()
{
    std::random_device rd;
    std::mt19937_64 gen((std::uint64_t(rd()) << 32) ^ rd() ^
                        std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()));
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(gen()),
                  static_cast<unsigned long long>(gen()));
    return buf;
}

std::string hostName()
{
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

// Schema version 1. Later versions append their migration to kMigrations; never edit a shipped one.
const char *kMigrationV1 = R"SQL(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  method TEXT NOT NULL,
  pd INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}',
  dataset_path TEXT NOT NULL DEFAULT '',
  dataset_hash TEXT NOT NULL DEFAULT '',
  model_id TEXT NOT NULL DEFAULT '',
  output_model TEXT NOT NULL DEFAULT '',
  judge TEXT NOT NULL DEFAULT '',
  refusal_phrases_json TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  owner_pid INTEGER NOT NULL DEFAULT 0,
  parent_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE steps (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  lr REAL NOT NULL,
  elapsed REAL NOT NULL,
  losses_json TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  step INTEGER NOT NULL,
  split TEXT NOT NULL,
  category TEXT NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  count INTEGER NOT NULL,
  judge TEXT NOT NULL
);
CREATE INDEX metrics_run ON metrics(run_id, stage, step);
CREATE TABLE answers (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  step INTEGER NOT NULL,
  sample INTEGER NOT NULL,
  split TEXT NOT NULL,
  set_name TEXT NOT NULL,
  record INTEGER NOT NULL,
  pair INTEGER NOT NULL,
  category TEXT NOT NULL,
  image TEXT NOT NULL,
  question TEXT NOT NULL,
  reference TEXT NOT NULL,
  answer TEXT NOT NULL,
  refusal INTEGER NOT NULL,
  unsafe INTEGER NOT NULL,
  degenerate INTEGER NOT NULL,
  normal INTEGER NOT NULL,
  exact INTEGER NOT NULL,
  rouge_p REAL NOT NULL,
  rouge_r REAL NOT NULL,
  rouge_f1 REAL NOT NULL,
  judge TEXT NOT NULL
);
CREATE INDEX answers_run ON answers(run_id, stage, set_name, category);
CREATE INDEX answers_key ON answers(split, set_name, record, pair, sample);
CREATE TABLE verdicts (
  answer_id INTEGER PRIMARY KEY REFERENCES answers(id) ON DELETE CASCADE,
  verdict TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  note TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE judge_cache (
  judge TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (judge, key)
);
)SQL";

// Version 2: an LLM judge's GPT-Score of a retain answer, and which verdicts a judge did not give.
const char *kMigrationV2 = R"SQL(
ALTER TABLE answers ADD COLUMN gpt_score REAL NOT NULL DEFAULT -1;
ALTER TABLE answers ADD COLUMN no_verdict INTEGER NOT NULL DEFAULT 0;
)SQL";

// Version 3: probes saved from the workbench.
const char *kMigrationV3 = R"SQL(
CREATE TABLE probes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  image TEXT NOT NULL,
  question TEXT NOT NULL,
  reference TEXT NOT NULL DEFAULT '',
  greedy INTEGER NOT NULL DEFAULT 1,
  samples INTEGER NOT NULL DEFAULT 1,
  seed INTEGER NOT NULL DEFAULT 233,
  models_json TEXT NOT NULL DEFAULT '[]',
  answers_json TEXT NOT NULL DEFAULT '[]'
);
)SQL";

// Version 4: the identity of the weights a run wrote (runservice's modelIdentity: SHA-256 of a file; of a folder's
// names, sizes and first 4 MiB of each), so an audit refuses a file replaced since.
const char *kMigrationV4 = R"SQL(
ALTER TABLE runs ADD COLUMN output_hash TEXT NOT NULL DEFAULT '';
)SQL";

const std::vector<const char *> kMigrations = {kMigrationV1, kMigrationV2, kMigrationV3, kMigrationV4};

const char *kRunColumns = "id, uid, name, method, pd, status, config_json, dataset_path, dataset_hash, model_id, "
                          "output_model, judge, refusal_phrases_json, created_at, started_at, finished_at, message, "
                          "host, parent_id, owner_pid, output_hash";
// A read-only open of a store older than version 4 reads the identity of the weights as unknown.
const char *kRunColumnsV3 = "id, uid, name, method, pd, status, config_json, dataset_path, dataset_hash, model_id, "
                            "output_model, judge, refusal_phrases_json, created_at, started_at, finished_at, message, "
                            "host, parent_id, owner_pid, ''";

const char *kAnswerColumns = "id, stage, step, sample, split, set_name, record, pair, category, image, question, "
                             "reference, answer, refusal, unsafe, degenerate, normal, exact, rouge_p, rouge_r, "
                             "rouge_f1, judge, gpt_score, no_verdict";
// A read-only open of a version 1 store (which cannot migrate it) reads the later columns as their defaults.
const char *kAnswerColumnsV1 = "id, stage, step, sample, split, set_name, record, pair, category, image, question, "
                               "reference, answer, refusal, unsafe, degenerate, normal, exact, rouge_p, rouge_r, "
                               "rouge_f1, judge, -1, 0";

AnswerRecord readAnswer(const Statement &s)
{
    AnswerRecord r;
    r.id = s.i64(0);
    r.stage = s.text(1);
    r.step = int(s.i64(2));
    r.sample = int(s.i64(3));
    r.split = s.text(4);
    r.set = s.text(5);
    r.record = long(s.i64(6));
    r.pair = int(s.i64(7));
    r.category = s.text(8);
    r.image = s.text(9);
    r.question = s.text(10);
    r.reference = s.text(11);
    r.answer = s.text(12);
    r.refusal = s.i64(13);
    r.unsafe = s.i64(14);
    r.degenerate = s.i64(15);
    r.normal = s.i64(16);
    r.exact = s.i64(17);
    r.rougePrecision = s.dbl(18);
    r.rougeRecall = s.dbl(19);
    r.rougeF1 = s.dbl(20);
    r.judge = s.text(21);
    r.gptScore = s.dbl(22);
    r.noVerdict = int(s.i64(23));
    return r;
}

const char *kGoneMessage = "the process running it ended without finishing (crash or kill)";

// Whether the process that owns a queued or running run is gone: only a run of this machine can be checked.
bool ownerGone(const std::string &host, std::int64_t pid)
{
    return host == hostName() && (pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH));
}

RunInfo readRun(const Statement &s)
{
    RunInfo r;
    r.id = s.i64(0);
    r.uid = s.text(1);
    r.name = s.text(2);
    r.method = s.text(3);
    r.pd = s.i64(4) != 0;
    r.status = statusFromName(s.text(5)).value_or(RunStatus::Failed);
    r.configJson = s.text(6);
    r.datasetPath = s.text(7);
    r.datasetHash = s.text(8);
    r.modelId = s.text(9);
    r.outputModel = s.text(10);
    r.judge = s.text(11);
    r.refusalPhrasesJson = s.text(12);
    r.createdAt = s.text(13);
    r.startedAt = s.text(14);
    r.finishedAt = s.text(15);
    r.message = s.text(16);
    r.host = s.text(17);
    r.parentId = s.i64(18);
    r.outputHash = s.text(20);
    // A reader (report, the workbench on a read-only store) sees what a writer would record on open.
    if ((r.status == RunStatus::Running || r.status == RunStatus::Queued) && ownerGone(r.host, s.i64(19))) {
        r.status = RunStatus::Interrupted;
        r.message = kGoneMessage;
    }
    return r;
}

} // namespace

RunStore::RunStore(const std::string &path, bool readOnly) : m_path(path), m_readOnly(readOnly)
{
    // A FIFO would block the open, a device would be written to: refused by what it is, before SQLite opens it.
    {
        const std::string kind = se::data::existingKind(path);
        if (!kind.empty() && kind != "a SQLite database" && kind != "an empty file")
            throw StoreError("cannot open run store " + path + ": it is " + kind +
                             ", not a database (a run store is SQLite)");
    }
    const int flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path.c_str(), &m_db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        const std::string msg = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        m_db = nullptr;
        throw StoreError("cannot open run store " + path + ": " + msg);
    }
    sqlite3_busy_timeout(m_db, 10000);
    try {
        // A file that is not a database fails here, with SQLite's "file is not a database".
        exec("PRAGMA foreign_keys = ON");
        refuseForeignDatabase();
        if (!readOnly) {
            exec("PRAGMA journal_mode = WAL");
            exec("PRAGMA synchronous = NORMAL");
        }
        migrate();
        if (!readOnly)
            markInterrupted();
    } catch (const StoreError &e) {
        sqlite3_close(m_db);
        m_db = nullptr;
        throw StoreError(std::string(e.what()).find(path) == std::string::npos ? path + ": " + e.what() : e.what());
    }
}

RunStore::~RunStore()
{
    if (m_db)
        sqlite3_close(m_db);
}

void RunStore::exec(const char *sql) const
{
    char *err = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        const std::string msg = err ? err : sqlite3_errmsg(m_db);
        sqlite3_free(err);
        throw StoreError(storeError(m_db, msg));
    }
}

const char *RunStore::runColumns() const
{
    return m_schema >= 4 ? kRunColumns : kRunColumnsV3;
}

const char *RunStore::answerColumns() const
{
    return m_schema >= 2 ? kAnswerColumns : kAnswerColumnsV1;
}

std::int64_t RunStore::saveProbe(ProbeRecord p)
{
    if (p.createdAt.empty())
        p.createdAt = nowIso8601();
    Statement s(m_db, "INSERT INTO probes (name, created_at, image, question, reference, greedy, samples, seed, "
                      "models_json, answers_json) VALUES (?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, p.name).bind(2, p.createdAt).bind(3, p.image).bind(4, p.question).bind(5, p.reference);
    s.bind(6, p.greedy).bind(7, p.samples).bind(8, static_cast<std::int64_t>(p.seed)).bind(9, p.modelsJson);
    s.bind(10, p.answersJson);
    s.run();
    return sqlite3_last_insert_rowid(m_db);
}

std::vector<ProbeRecord> RunStore::probes() const
{
    std::vector<ProbeRecord> out;
    if (m_schema < 3)
        return out;
    Statement s(m_db, "SELECT id, name, created_at, image, question, reference, greedy, samples, seed, models_json, "
                      "answers_json FROM probes ORDER BY id");
    while (s.step()) {
        ProbeRecord p;
        p.id = s.i64(0);
        p.name = s.text(1);
        p.createdAt = s.text(2);
        p.image = s.text(3);
        p.question = s.text(4);
        p.reference = s.text(5);
        p.greedy = s.i64(6) != 0;
        p.samples = int(s.i64(7));
        p.seed = static_cast<std::uint64_t>(s.i64(8));
        p.modelsJson = s.text(9);
        p.answersJson = s.text(10);
        out.push_back(std::move(p));
    }
    return out;
}

void RunStore::deleteProbe(std::int64_t id)
{
    Statement s(m_db, "DELETE FROM probes WHERE id = ?");
    s.bind(1, id);
    s.run();
}

void RunStore::refuseForeignDatabase() const
{
    if (schemaVersion() != 0)
        return;
    // Version 0 with tables: another application's database. Adding ours (and switching its journal to WAL) would
    // change a file that is not ours.
    std::string tables;
    Statement s(m_db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 6");
    int n = 0;
    while (s.step())
        tables += (n++ ? ", " : "") + s.text(0);
    if (n > 0)
        throw StoreError("run store " + m_path + " is a SQLite database of another kind (tables " + tables +
                         (n > 5 ? ", …" : "") + "), not a run store; refusing to change it");
}

int RunStore::schemaVersion() const
{
    Statement s(m_db, "PRAGMA user_version");
    s.step();
    return int(s.i64(0));
}

void RunStore::migrate()
{
    const int version = schemaVersion();
    if (version > kSchemaVersion)
        throw StoreError("run store " + m_path + " has schema version " + std::to_string(version) +
                         ", newer than this program's " + std::to_string(kSchemaVersion) +
                         ": open it with a newer SafeEraser Workbench");
    m_schema = version;
    if (version == kSchemaVersion)
        return;
    if (m_readOnly && version >= 1)
        return; // read as it is: the readers know every shipped layout (answerColumns())
    if (m_readOnly)
        throw StoreError("run store " + m_path + " has schema version " + std::to_string(version) +
                         " and needs a migration, which a read-only open cannot do");
    Transaction t(m_db);
    for (int v = version; v < kSchemaVersion; ++v)
        exec(kMigrations[std::size_t(v)]);
    exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    t.commit();
    m_schema = kSchemaVersion;
}

int RunStore::markInterrupted()
{
    std::vector<std::int64_t> gone;
    {
        // Queued too: a run is queued while its vanilla evaluation is made, and may be killed then.
        Statement s(m_db, "SELECT id, host, owner_pid FROM runs WHERE status IN ('running', 'queued')");
        while (s.step())
            if (ownerGone(s.text(1), s.i64(2))) // another machine's run cannot be checked from here
                gone.push_back(s.i64(0));
    }
    for (std::int64_t id : gone)
        setStatus(id, RunStatus::Interrupted, kGoneMessage);
    return int(gone.size());
}

std::int64_t RunStore::createRun(RunInfo info)
{
    if (info.createdAt.empty())
        info.createdAt = nowIso8601();
    if (info.host.empty())
        info.host = hostName();
    if (info.uid.empty())
        info.uid = newUid();
    Statement s(m_db,
                "INSERT INTO runs (uid, name, method, pd, status, config_json, dataset_path, dataset_hash, model_id, "
                "output_model, judge, refusal_phrases_json, created_at, started_at, finished_at, message, host, "
                "owner_pid, parent_id, output_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, info.uid).bind(2, info.name).bind(3, info.method).bind(4, info.pd).bind(5, statusName(info.status));
    s.bind(6, info.configJson.empty() ? std::string("{}") : info.configJson).bind(7, info.datasetPath);
    s.bind(8, info.datasetHash).bind(9, info.modelId).bind(10, info.outputModel).bind(11, info.judge);
    s.bind(12, info.refusalPhrasesJson.empty() ? std::string("[]") : info.refusalPhrasesJson);
    s.bind(13, info.createdAt).bind(14, info.startedAt).bind(15, info.finishedAt).bind(16, info.message);
    s.bind(17, info.host).bind(18, std::int64_t(::getpid())).bind(19, info.parentId).bind(20, info.outputHash);
    s.run();
    return sqlite3_last_insert_rowid(m_db);
}

void RunStore::setStatus(std::int64_t run, RunStatus status, const std::string &message)
{
    const std::string now = nowIso8601();
    const bool ending = status == RunStatus::Finished || status == RunStatus::Failed ||
                        status == RunStatus::Cancelled || status == RunStatus::Interrupted;
    Statement s(m_db, "UPDATE runs SET status = ?, message = ?, owner_pid = ?, "
                      "started_at = CASE WHEN ? AND started_at = '' THEN ? ELSE started_at END, "
                      "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?");
    s.bind(1, statusName(status)).bind(2, message).bind(3, std::int64_t(::getpid()));
    s.bind(4, status == RunStatus::Running).bind(5, now).bind(6, ending).bind(7, now).bind(8, run);
    s.run();
}

void RunStore::updateRun(const RunInfo &info)
{
    Statement s(m_db,
                "UPDATE runs SET name=?, method=?, pd=?, status=?, config_json=?, dataset_path=?, dataset_hash=?, "
                "model_id=?, output_model=?, judge=?, refusal_phrases_json=?, started_at=?, finished_at=?, "
                "message=?, parent_id=?, output_hash=? WHERE id=?");
    s.bind(1, info.name).bind(2, info.method).bind(3, info.pd).bind(4, statusName(info.status));
    s.bind(5, info.configJson).bind(6, info.datasetPath).bind(7, info.datasetHash).bind(8, info.modelId);
    s.bind(9, info.outputModel).bind(10, info.judge).bind(11, info.refusalPhrasesJson).bind(12, info.startedAt);
    s.bind(13, info.finishedAt).bind(14, info.message).bind(15, info.parentId).bind(16, info.outputHash);
    s.bind(17, info.id);
    s.run();
}

void RunStore::setOutputHash(std::int64_t run, const std::string &hash)
{
    Statement s(m_db, "UPDATE runs SET output_hash = ? WHERE id = ?");
    s.bind(1, hash).bind(2, run).run();
}

std::optional<RunInfo> RunStore::run(std::int64_t id) const
{
    Statement s(m_db, (std::string("SELECT ") + runColumns() + " FROM runs WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step())
        return std::nullopt;
    return readRun(s);
}

std::vector<RunInfo> RunStore::runs() const
{
    Statement s(m_db, (std::string("SELECT ") + runColumns() + " FROM runs ORDER BY id").c_str());
    std::vector<RunInfo> out;
    while (s.step())
        out.push_back(readRun(s));
    return out;
}

void RunStore::deleteRun(std::int64_t id)
{
    Transaction t(m_db);
    Statement s(m_db, "DELETE FROM runs WHERE id = ?");
    s.bind(1, id).run();
    t.commit();
}

void RunStore::truncateRun(std::int64_t id, int step)
{
    Transaction t(m_db);
    Statement a(m_db, "DELETE FROM steps WHERE run_id = ? AND step > ?");
    a.bind(1, id).bind(2, step).run();
    Statement b(m_db, "DELETE FROM metrics WHERE run_id = ? AND ((stage = 'step' AND step > ?) OR stage = 'final')");
    b.bind(1, id).bind(2, step).run();
    Statement c(m_db, "DELETE FROM answers WHERE run_id = ? AND ((stage = 'step' AND step > ?) OR stage = 'final')");
    c.bind(1, id).bind(2, step).run();
    t.commit();
}

void RunStore::addSteps(std::int64_t run, const std::vector<StepRecord> &steps)
{
    Transaction t(m_db);
    Statement s(m_db,
                "INSERT OR REPLACE INTO steps (run_id, step, epoch, lr, elapsed, losses_json) VALUES (?,?,?,?,?,?)");
    for (const StepRecord &r : steps) {
        nlohmann::ordered_json losses = nlohmann::ordered_json::object();
        for (const auto &[k, v] : r.losses)
            losses[k] = v;
        s.bind(1, run).bind(2, r.step).bind(3, r.epoch).bind(4, r.lr).bind(5, r.elapsedSeconds).bind(6, losses.dump());
        s.run();
    }
    t.commit();
}

std::vector<StepRecord> RunStore::steps(std::int64_t run) const
{
    Statement s(m_db, "SELECT step, epoch, lr, elapsed, losses_json FROM steps WHERE run_id = ? ORDER BY step");
    s.bind(1, run);
    std::vector<StepRecord> out;
    while (s.step()) {
        StepRecord r;
        r.step = int(s.i64(0));
        r.epoch = int(s.i64(1));
        r.lr = s.dbl(2);
        r.elapsedSeconds = s.dbl(3);
        const auto j = nlohmann::ordered_json::parse(s.text(4), nullptr, false);
        if (j.is_object())
            for (auto it = j.begin(); it != j.end(); ++it)
                if (it.value().is_number())
                    r.losses.emplace_back(it.key(), it.value().get<double>());
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::int64_t> RunStore::addEvaluation(std::int64_t run, const std::vector<MetricRecord> &metrics,
                                                  const std::vector<AnswerRecord> &answers)
{
    Transaction t(m_db);
    Statement m(m_db, "INSERT INTO metrics (run_id, stage, step, split, category, name, value, count, judge) "
                      "VALUES (?,?,?,?,?,?,?,?,?)");
    for (const MetricRecord &r : metrics) {
        m.bind(1, run).bind(2, r.stage).bind(3, r.step).bind(4, r.split).bind(5, r.category).bind(6, r.name);
        m.bind(7, r.value).bind(8, r.count).bind(9, r.judge);
        m.run();
    }
    Statement a(m_db,
                "INSERT INTO answers (run_id, stage, step, sample, split, set_name, record, pair, category, image, "
                "question, reference, answer, refusal, unsafe, degenerate, normal, exact, rouge_p, rouge_r, rouge_f1, "
                "judge, gpt_score, no_verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    std::vector<std::int64_t> ids;
    ids.reserve(answers.size());
    for (const AnswerRecord &r : answers) {
        a.bind(1, run).bind(2, r.stage).bind(3, r.step).bind(4, r.sample).bind(5, r.split).bind(6, r.set);
        a.bind(7, r.record).bind(8, r.pair).bind(9, r.category).bind(10, r.image).bind(11, r.question);
        a.bind(12, r.reference).bind(13, r.answer).bind(14, r.refusal).bind(15, r.unsafe).bind(16, r.degenerate);
        a.bind(17, r.normal).bind(18, r.exact).bind(19, r.rougePrecision).bind(20, r.rougeRecall);
        a.bind(21, r.rougeF1).bind(22, r.judge).bind(23, r.gptScore).bind(24, r.noVerdict);
        a.run();
        ids.push_back(sqlite3_last_insert_rowid(m_db));
    }
    t.commit();
    return ids;
}

void RunStore::replaceMetrics(std::int64_t run, const std::vector<std::string> &stages,
                              const std::vector<MetricRecord> &metrics)
{
    Transaction t(m_db);
    Statement d(m_db, "DELETE FROM metrics WHERE run_id = ? AND stage = ?");
    for (const auto &stage : stages) {
        d.bind(1, run).bind(2, stage);
        d.run();
    }
    Statement m(m_db, "INSERT INTO metrics (run_id, stage, step, split, category, name, value, count, judge) "
                      "VALUES (?,?,?,?,?,?,?,?,?)");
    for (const MetricRecord &r : metrics) {
        if (std::find(stages.begin(), stages.end(), r.stage) == stages.end())
            throw StoreError(
                storeError(m_db, "metric of stage '" + r.stage + "' given to replace stages it is not in"));
        m.bind(1, run).bind(2, r.stage).bind(3, r.step).bind(4, r.split).bind(5, r.category).bind(6, r.name);
        m.bind(7, r.value).bind(8, r.count).bind(9, r.judge);
        m.run();
    }
    t.commit();
}

std::vector<MetricRecord> RunStore::metrics(std::int64_t run, const std::string &stage) const
{
    Statement s(m_db, "SELECT stage, step, split, category, name, value, count, judge FROM metrics WHERE run_id = ? "
                      "AND (? = '' OR stage = ?) ORDER BY step, rowid");
    s.bind(1, run).bind(2, stage).bind(3, stage);
    std::vector<MetricRecord> out;
    while (s.step())
        out.push_back({s.text(0), int(s.i64(1)), s.text(2), s.text(3), s.text(4), s.dbl(5), int(s.i64(6)), s.text(7)});
    return out;
}

std::vector<AnswerRecord> RunStore::answers(std::int64_t run, const std::string &stage, const std::string &set,
                                            const std::string &category) const
{
    Statement s(m_db, (std::string("SELECT ") + answerColumns() +
                       " FROM answers WHERE run_id = ? AND (? = '' OR stage = ?) AND (? = '' OR set_name = ?) AND "
                       "(? = '' OR category = ?) ORDER BY id")
                          .c_str());
    s.bind(1, run).bind(2, stage).bind(3, stage).bind(4, set).bind(5, set).bind(6, category).bind(7, category);
    std::vector<AnswerRecord> out;
    while (s.step())
        out.push_back(readAnswer(s));
    return out;
}

std::vector<AnswerRecord> RunStore::answersById(const std::vector<std::int64_t> &ids) const
{
    std::vector<AnswerRecord> out(ids.size());
    std::map<std::int64_t, std::vector<std::size_t>> where;
    std::string list;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!ids[i])
            continue;
        if (where[ids[i]].empty())
            list += (list.empty() ? "" : ",") + std::to_string(ids[i]);
        where[ids[i]].push_back(i);
    }
    if (list.empty())
        return out;
    Statement s(m_db, (std::string("SELECT ") + answerColumns() + " FROM answers WHERE id IN (" + list + ")").c_str());
    while (s.step()) {
        const AnswerRecord r = readAnswer(s);
        for (std::size_t i : where[r.id])
            out[i] = r;
    }
    return out;
}

std::int64_t RunStore::answerCount(std::int64_t run) const
{
    Statement s(m_db, "SELECT COUNT(*) FROM answers WHERE run_id = ?");
    s.bind(1, run);
    s.step();
    return s.i64(0);
}

void RunStore::setVerdict(const Verdict &v)
{
    nlohmann::json tags = v.tags;
    Statement s(m_db,
                "INSERT OR REPLACE INTO verdicts (answer_id, verdict, tags_json, note, updated_at) VALUES (?,?,?,?,?)");
    s.bind(1, v.answerId).bind(2, v.verdict).bind(3, tags.dump()).bind(4, v.note);
    s.bind(5, v.updatedAt.empty() ? nowIso8601() : v.updatedAt);
    s.run();
}

void RunStore::clearVerdict(std::int64_t answerId)
{
    Statement s(m_db, "DELETE FROM verdicts WHERE answer_id = ?");
    s.bind(1, answerId).run();
}

std::optional<Verdict> RunStore::verdict(std::int64_t answerId) const
{
    Statement s(m_db, "SELECT verdict, tags_json, note, updated_at FROM verdicts WHERE answer_id = ?");
    s.bind(1, answerId);
    if (!s.step())
        return std::nullopt;
    Verdict v;
    v.answerId = answerId;
    v.verdict = s.text(0);
    const auto tags = nlohmann::json::parse(s.text(1), nullptr, false);
    if (tags.is_array())
        for (const auto &t : tags)
            if (t.is_string())
                v.tags.push_back(t.get<std::string>());
    v.note = s.text(2);
    v.updatedAt = s.text(3);
    return v;
}

std::optional<std::string> RunStore::cachedJudgement(const std::string &judge, const std::string &key) const
{
    Statement s(m_db, "SELECT value FROM judge_cache WHERE judge = ? AND key = ?");
    s.bind(1, judge).bind(2, key);
    if (!s.step())
        return std::nullopt;
    return s.text(0);
}

void RunStore::cacheJudgement(const std::string &judge, const std::string &key, const std::string &value)
{
    Statement s(m_db, "INSERT OR REPLACE INTO judge_cache (judge, key, value) VALUES (?,?,?)");
    s.bind(1, judge).bind(2, key).bind(3, value).run();
}

int RunStore::mergeFrom(const std::string &otherPath)
{
    int otherSchema = 0;
    {
        RunStore other(otherPath, true); // checks its schema version, with a clear error when newer
        otherSchema = other.schemaVersion();
    }
    Statement attach(m_db, "ATTACH DATABASE ? AS other");
    attach.bind(1, otherPath).run();
    int copied = 0;
    try {
        Transaction t(m_db);
        std::vector<std::int64_t> ids;
        {
            Statement s(m_db,
                        "SELECT o.id FROM other.runs o WHERE o.uid NOT IN (SELECT uid FROM main.runs) ORDER BY o.id");
            while (s.step())
                ids.push_back(s.i64(0));
        }
        std::map<std::int64_t, std::int64_t> newId;
        for (std::int64_t old : ids) {
            Statement ins(
                m_db, "INSERT INTO main.runs (uid, name, method, pd, status, config_json, dataset_path, dataset_hash, "
                      "model_id, output_model, judge, refusal_phrases_json, created_at, started_at, finished_at, "
                      "message, host, owner_pid, parent_id, output_hash) SELECT uid, name, method, pd, status, "
                      "config_json, dataset_path, dataset_hash, model_id, output_model, judge, refusal_phrases_json, "
                      "created_at, started_at, finished_at, message, host, owner_pid, parent_id, " +
                          std::string(otherSchema >= 4 ? "output_hash" : "''") + " FROM other.runs WHERE id = ?");
            ins.bind(1, old).run();
            const std::int64_t id = sqlite3_last_insert_rowid(m_db);
            newId[old] = id;
            Statement st(m_db,
                         "INSERT INTO main.steps SELECT ?, step, epoch, lr, elapsed, losses_json FROM other.steps "
                         "WHERE run_id = ?");
            st.bind(1, id).bind(2, old).run();
            Statement me(m_db,
                         "INSERT INTO main.metrics SELECT ?, stage, step, split, category, name, value, count, judge "
                         "FROM other.metrics WHERE run_id = ?");
            me.bind(1, id).bind(2, old).run();
            // Answers get new ids; verdicts follow them through a temporary map of old to new ids.
            const std::int64_t base = [&] {
                Statement mx(m_db, "SELECT COALESCE(MAX(id), 0) FROM main.answers");
                mx.step();
                return mx.i64(0);
            }();
            const std::int64_t minOld = [&] {
                Statement mn(m_db, "SELECT COALESCE(MIN(id), 1) FROM other.answers WHERE run_id = ?");
                mn.bind(1, old);
                mn.step();
                return mn.i64(0);
            }();
            const std::int64_t shift = base + 1 - minOld;
            // Every column list starts with "id, ": the copy gets the new run and shifted ids.
            Statement an(m_db, (std::string("INSERT INTO main.answers (run_id, ") + kAnswerColumns +
                                ") SELECT ?, id + ?, " + ((otherSchema >= 2 ? kAnswerColumns : kAnswerColumnsV1) + 4) +
                                " FROM other.answers WHERE run_id = ?")
                                   .c_str());
            an.bind(1, id).bind(2, shift).bind(3, old).run();
            Statement ve(m_db, "INSERT INTO main.verdicts SELECT v.answer_id + ?, v.verdict, v.tags_json, v.note, "
                               "v.updated_at FROM other.verdicts v JOIN other.answers a ON a.id = v.answer_id "
                               "WHERE a.run_id = ?");
            ve.bind(1, shift).bind(2, old).run();
            ++copied;
        }
        // Parent links (an unlearning run's vanilla evaluation) are matched by run uid: the parent may have been
        // copied now, or by an earlier merge of the same store (then its id here is not its id there).
        for (const auto &[old, id] : newId) {
            Statement q(m_db, "SELECT m.id FROM other.runs o JOIN other.runs op ON op.id = o.parent_id "
                              "JOIN main.runs m ON m.uid = op.uid WHERE o.id = ?");
            q.bind(1, old);
            const std::int64_t parent = q.step() ? q.i64(0) : 0;
            Statement p(m_db, "UPDATE main.runs SET parent_id = ? WHERE id = ?");
            p.bind(1, parent).bind(2, id).run();
        }
        Statement jc(m_db, "INSERT OR IGNORE INTO main.judge_cache SELECT judge, key, value FROM other.judge_cache");
        jc.run();
        t.commit();
    } catch (...) {
        exec("DETACH DATABASE other");
        throw;
    }
    exec("DETACH DATABASE other");
    return copied;
}

} // namespace se::store
