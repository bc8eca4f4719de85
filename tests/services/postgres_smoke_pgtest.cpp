// Proves the throwaway PostgreSQL started for the tests is real, version 15, and has what the
// cloud will need (pg_trgm for search).
#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <memory>

#include "tests/services/service_env.h"

namespace {

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, PgDeleter>;
using Res = std::unique_ptr<PGresult, ResultDeleter>;

TEST(PostgresSmokeTest, ConnectsToARealPostgres15) {
  ACCRUE_NEED_SERVICE("ACCRUE_TEST_PG_DSN");
  Conn conn(PQconnectdb(accrue::testing::service_env("ACCRUE_TEST_PG_DSN").c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_GE(PQserverVersion(conn.get()), 150000);
  EXPECT_LT(PQserverVersion(conn.get()), 160000);

  Res ext(PQexec(conn.get(), "CREATE EXTENSION IF NOT EXISTS pg_trgm"));
  ASSERT_EQ(PQresultStatus(ext.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());

  Res r(PQexec(conn.get(),
               "CREATE TEMP TABLE smoke (id bigint PRIMARY KEY, v text);"
               "INSERT INTO smoke VALUES (1, 'accrue');"
               "SELECT similarity(v, 'accrual') > 0.3 FROM smoke WHERE id = 1"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "t");
}

}  // namespace
