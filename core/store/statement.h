// The run store's one SQLite statement wrapper: a prepared statement that finalises itself, cannot be copied,
// checks every bind and step, and names the store's file in every error (StoreError). A transaction guard that
// rolls back unless committed. Used by the store's own units; callers outside them ask RunStore::statement().
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace se::store {

class StoreError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

// "run store /path/runs.sqlite: <what>".
std::string storeError(sqlite3 *db, const std::string &what);

class Statement
{
public:
    Statement(sqlite3 *db, const std::string &sql); // throws StoreError naming the SQL
    ~Statement();
    Statement(Statement &&other) noexcept;
    Statement &operator=(Statement &&) = delete;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;

    // Positional parameters from 1; a bind SQLite refuses (index out of range, too big, out of memory) throws.
    Statement &bind(int i, const std::string &v);
    Statement &bind(int i, const char *v) { return bind(i, std::string(v)); }
    Statement &bind(int i, std::int64_t v);
    Statement &bind(int i, int v) { return bind(i, std::int64_t(v)); }
    Statement &bind(int i, bool v) { return bind(i, std::int64_t(v ? 1 : 0)); }
    Statement &bind(int i, double v);

    bool step(); // true: a row is ready; false: done; throws on an error
    void run();  // step to the end, then reset for another use
    void reset();

    std::string text(int column) const;
    std::string_view textView(int column) const; // no copy; valid until the next step, reset or destruction
    std::int64_t i64(int column) const;
    double dbl(int column) const;
    bool isNull(int column) const;

private:
    void check(int rc, const char *what) const;
    sqlite3 *m_db;
    sqlite3_stmt *m_st = nullptr;
};

class Transaction
{
public:
    explicit Transaction(sqlite3 *db); // BEGIN IMMEDIATE
    ~Transaction();                    // ROLLBACK unless committed
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    void commit();

private:
    sqlite3 *m_db;
    bool m_done = false;
};

} // namespace se::store
