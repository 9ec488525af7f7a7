// The run store's SQLite statement wrapper (see statement.h).
#include "core/store/statement.h"

// Without SQLite (the GPU machine) core builds no run store; this unit compiles to nothing there.
#ifdef SE_HAVE_STORE

#include <sqlite3.h>

#include <utility>

namespace se::store {

std::string storeError(sqlite3 *db, const std::string &what)
{
    const char *file = db ? sqlite3_db_filename(db, "main") : nullptr;
    return std::string("run store ") + (file && *file ? file : "(in memory)") + ": " + what;
}

Statement::Statement(sqlite3 *db, const std::string &sql) : m_db(db)
{
    if (sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &m_st, nullptr) != SQLITE_OK)
        throw StoreError(storeError(db, std::string(sqlite3_errmsg(db)) + " in: " + sql));
}

Statement::~Statement()
{
    sqlite3_finalize(m_st);
}

Statement::Statement(Statement &&other) noexcept : m_db(other.m_db), m_st(std::exchange(other.m_st, nullptr))
{
}

void Statement::check(int rc, const char *what) const
{
    if (rc != SQLITE_OK)
        throw StoreError(
            storeError(m_db, std::string(what) + ": " + sqlite3_errstr(rc) + " (" + sqlite3_sql(m_st) + ")"));
}

Statement &Statement::bind(int i, const std::string &v)
{
    check(sqlite3_bind_text64(m_st, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
          ("binding text to parameter " + std::to_string(i)).c_str());
    return *this;
}

Statement &Statement::bind(int i, std::int64_t v)
{
    check(sqlite3_bind_int64(m_st, i, v), ("binding an integer to parameter " + std::to_string(i)).c_str());
    return *this;
}

Statement &Statement::bind(int i, double v)
{
    check(sqlite3_bind_double(m_st, i, v), ("binding a number to parameter " + std::to_string(i)).c_str());
    return *this;
}

bool Statement::step()
{
    const int rc = sqlite3_step(m_st);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    throw StoreError(storeError(m_db, sqlite3_errmsg(m_db)));
}

void Statement::run()
{
    while (step()) {
    }
    reset();
}

void Statement::reset()
{
    sqlite3_reset(m_st);
    sqlite3_clear_bindings(m_st);
}

std::string Statement::text(int c) const
{
    return std::string(textView(c));
}

std::string_view Statement::textView(int c) const
{
    const unsigned char *t = sqlite3_column_text(m_st, c);
    return t ? std::string_view(reinterpret_cast<const char *>(t), std::size_t(sqlite3_column_bytes(m_st, c)))
             : std::string_view();
}

std::int64_t Statement::i64(int c) const
{
    return sqlite3_column_int64(m_st, c);
}

double Statement::dbl(int c) const
{
    return sqlite3_column_double(m_st, c);
}

bool Statement::isNull(int c) const
{
    return sqlite3_column_type(m_st, c) == SQLITE_NULL;
}

Transaction::Transaction(sqlite3 *db) : m_db(db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        throw StoreError(storeError(db, sqlite3_errmsg(db)));
}

Transaction::~Transaction()
{
    if (!m_done)
        sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit()
{
    if (sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
        throw StoreError(storeError(m_db, sqlite3_errmsg(m_db)));
    m_done = true;
}

} // namespace se::store

#endif
