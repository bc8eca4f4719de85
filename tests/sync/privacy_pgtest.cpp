// Privacy at the edge: after a realistic workload (two stores' tills accruing and redeeming by
// card, a member enrolled at a till with a card, a phone and an e-mail, looked up by each, an
// unknown card asked about, everything uploaded), every file a store keeps (the SQLite replica,
// its WAL, the agent's log) and the cloud's log hold no raw phone number, e-mail address or card
// number, while the e-mail and phone reach head office (sealed by the store to the cloud's key).
// Logs run at debug, the level most likely to leak.
//
// What counts as found: the exact identifiers the workload used, in every form a till may type
// them; anything shaped like an e-mail address; "+" and 8 to 15 digits as text (after a
// delimiter, the first digit not 0, not running on into an id: binary pages hold "+9000..." by
// chance); and a
// run of 13 to 19 digits that passes the Luhn check and starts with 2-6 (the card brands' first
// digits: millisecond timestamps, which start with 1, are not cards).
#include <regex>

#include "tests/sync/cluster.h"

namespace accrue::testing {
namespace {

struct Finding {
  std::string file, what, sample;
};

bool luhn(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

std::vector<Finding> scan(const std::filesystem::path& file,
                          const std::vector<std::string>& exact) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<Finding> out;
  auto add = [&](const std::string& what, size_t at, size_t n) {
    out.push_back({file.string(), what, bytes.substr(at, std::min<size_t>(n, 40))});
  };
  for (const auto& e : exact) {
    if (auto at = bytes.find(e); at != std::string::npos)
      add("an identifier of the workload", at, e.size());
  }
  // Digit runs: cards and phones.
  for (size_t i = 0; i < bytes.size();) {
    if (!std::isdigit(static_cast<unsigned char>(bytes[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[j]))) ++j;
    const std::string_view run(bytes.data() + i, j - i);
    if (run.size() >= 13 && run.size() <= 19 && run[0] >= '2' && run[0] <= '6' && luhn(run)) {
      add("a card-like number (Luhn-valid)", i, run.size());
    }
    // A phone as text: "+" after a delimiter (or at the start), the digits not running on into
    // an id ("+9000...-" in a page holding "...8000-000000000009" is not a phone).
    const bool delimited_before =
        i < 2 || std::string_view(" \t\n\"'=:,(").find(bytes[i - 2]) != std::string_view::npos;
    const bool delimited_after =
        j == bytes.size() ||
        (bytes[j] != '-' && !std::isalnum(static_cast<unsigned char>(bytes[j])));
    if (i > 0 && bytes[i - 1] == '+' && run[0] != '0' && run.size() >= 8 && run.size() <= 15 &&
        delimited_before && delimited_after) {
      add("an E.164 phone number", i - 1, run.size() + 1);
    }
    i = j;
  }
  // E-mail addresses (ASCII local part: the masked form "a•••@example.org" is not one).
  static const std::regex kEmail(
      R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})");
  for (std::sregex_iterator it(bytes.begin(), bytes.end(), kEmail), end; it != end; ++it) {
    add("an e-mail address", static_cast<size_t>(it->position()), it->length());
  }
  return out;
}

TEST(Privacy, TheScanFindsWhatItLooksFor) {
  // The negative control: a file that leaks one of each is caught, and ordinary log lines
  // (millisecond times, UUIDs, masked forms) are not.
  const auto dir = std::filesystem::path(temp_dir("accrue-privacy-"));
  std::ofstream(dir / "leak.log")
      << "ts=1796291158375 event=x id=0190a5c2-0000-7000-8000-000000000001 masked=\"\u2022\u2022"
         "\u2022\u2022 9012\" mail=a\u2022\u2022\u2022@example.org\n"
      << "card=5105105105105100 phone=+4915123456789 email=anna@example.org\n";
  auto found = scan(dir / "leak.log", {});
  std::set<std::string> kinds;
  for (const auto& f : found) kinds.insert(f.what);
  EXPECT_EQ(kinds, (std::set<std::string>{"a card-like number (Luhn-valid)",
                                          "an E.164 phone number", "an e-mail address"}));
  EXPECT_EQ(found.size(), 3u);
  std::filesystem::remove_all(dir);
}

TEST(Privacy, NoRawPhoneEmailOrCardInTheStoresFilesOrInEitherLog) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  Cluster cluster(db, "debug");
  cluster.start();
  if (::testing::Test::HasFatalFailure()) return;
  cluster.run_tills(80, std::chrono::seconds(30), 21);

  // A member enrolled at store S0's till with three identifiers, then found by each.
  const std::string card = "4111 1111 1111 1111";  // Luhn-valid: the scan must not find it
  const std::string phone = "+48 600 700 800";
  const std::string email = "Privacy.Probe@Example.org";
  pb::Request enroll;
  enroll.set_request_id("enrol-1");
  enroll.set_till_id("till-1");
  auto* en = enroll.mutable_enroll();
  en->set_pos_tx_id("enrol-tx-1");
  en->set_display_name("Probe Person");
  en->mutable_consents()->set_terms(true);
  for (auto [kind, value] : {std::pair{pb::IDENTIFIER_KIND_CARD, card},
                             {pb::IDENTIFIER_KIND_PHONE, phone},
                             {pb::IDENTIFIER_KIND_EMAIL, email}}) {
    auto* id = en->add_identifiers();
    id->set_kind(kind);
    id->set_value(value);
  }
  auto enrolled = cluster.ask(0, enroll);
  ASSERT_TRUE(enrolled && enrolled->has_enroll()) << (enrolled ? enrolled->DebugString() : "");
  for (auto [kind, value] : {std::pair{pb::IDENTIFIER_KIND_CARD, card},
                             {pb::IDENTIFIER_KIND_PHONE, phone},
                             {pb::IDENTIFIER_KIND_EMAIL, email},
                             {pb::IDENTIFIER_KIND_CARD, std::string("5555 5555 5555 4444")}}) {
    pb::Request v;
    v.set_request_id("v");
    v.set_till_id("till-1");
    v.mutable_validate()->mutable_identifier()->set_kind(kind);
    v.mutable_validate()->mutable_identifier()->set_value(value);
    ASSERT_TRUE(cluster.ask(0, v));
  }
  ASSERT_TRUE(cluster.drained(std::chrono::seconds(30))) << "uploads did not drain";

  // The e-mail and phone reached head office, sealed on the way: the cloud opened them.
  EXPECT_EQ(db.scalar("SELECT email || ' ' || phone || ' ' || (sealed_contact IS NULL) || ' ' || "
                      "consent_terms || ' ' || (consent_terms_at IS NOT NULL) FROM customer_pii "
                      "WHERE display_name = 'Probe Person'"),
            "privacy.probe@example.org +48600700800 true true true");

  std::vector<std::string> exact = {
      "4111111111111111", "4111 1111 1111 1111",       "5555555555554444",         "+48600700800",
      "600700800",        "privacy.probe@example.org", "Privacy.Probe@Example.org"};
  for (int m = 0; m < Cluster::kMembers; ++m) exact.push_back(Cluster::card(m));
  std::vector<std::filesystem::path> files = {std::filesystem::path(cluster.dir()) / "cloud.log"};
  for (int s = 0; s < 2; ++s) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(cluster.agent(s).dir())) {
      if (e.is_regular_file() && e.path().filename() != "key") files.push_back(e.path());
    }
  }
  size_t scanned = 0, bytes = 0;
  std::vector<Finding> found;
  for (const auto& f : files) {
    if (!std::filesystem::exists(f)) continue;
    ++scanned;
    bytes += std::filesystem::file_size(f);
    auto more = scan(f, exact);
    found.insert(found.end(), more.begin(), more.end());
  }
  std::printf(
      "privacy scan: %zu files, %zu bytes (replicas, WALs, agent and cloud logs at debug)\n",
      scanned, bytes);
  EXPECT_GE(scanned, 5u);
  EXPECT_GT(std::filesystem::file_size(std::filesystem::path(cluster.dir()) / "cloud.log"), 0u)
      << "the cloud logged at debug";
  for (const auto& f : found) {
    ADD_FAILURE() << f.file << ": " << f.what << ": \"" << f.sample << "\"";
  }
}

}  // namespace
}  // namespace accrue::testing
