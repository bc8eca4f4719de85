// What makes a retry of a write "the same request" (proto/README.md, Idempotency).
#include <gtest/gtest.h>

#include "agent/core/service_parts.h"

namespace accrue::agent::service_parts {
namespace {

namespace pb = accrue::pos::v1;

pb::AccrueRequest sale(const std::string& card, pb::EntryMode mode) {
  pb::AccrueRequest a;
  a.set_pos_tx_id("s-1");
  a.mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  a.mutable_identifier()->set_value(card);
  a.mutable_identifier()->set_entry_mode(mode);
  a.mutable_basket()->set_currency("EUR");
  return a;
}

TEST(FingerprintTest, IdentifiersCountAsTheAgentUnderstandsThem) {
  const auto scanned = fingerprint(sale("6001234567890123", pb::ENTRY_MODE_SCANNED), "DE");
  const auto keyed = fingerprint(sale("6001 2345-6789 0123", pb::ENTRY_MODE_KEYED), "DE");
  EXPECT_EQ(scanned.current, keyed.current);
  EXPECT_NE(scanned.legacy, keyed.legacy);
  EXPECT_NE(scanned.current,
            fingerprint(sale("6001234567890124", pb::ENTRY_MODE_SCANNED), "DE").current);

  // Every identifier of an enrolment; a phone in the store's country's national form.
  pb::EnrollRequest national;
  auto* phone = national.add_identifiers();
  phone->set_kind(pb::IDENTIFIER_KIND_PHONE);
  phone->set_value("030 1234567");
  auto* mail = national.add_identifiers();
  mail->set_kind(pb::IDENTIFIER_KIND_EMAIL);
  mail->set_value("Ada@Example.COM");
  pb::EnrollRequest e164 = national;
  e164.mutable_identifiers(0)->set_value("+49301234567");
  e164.mutable_identifiers(1)->set_value("ada@example.com");
  e164.mutable_identifiers(1)->set_entry_mode(pb::ENTRY_MODE_KEYED);
  EXPECT_EQ(fingerprint(national, "DE").current, fingerprint(e164, "DE").current);
}

// A print recorded before identifiers were normalised (the hash of the bytes as sent) still
// recognises the identical retry; an identifier that does not normalise counts as sent.
TEST(FingerprintTest, APrintRecordedBeforeNormalisationStillMatchesTheIdenticalRetry) {
  const auto a = sale("6001 2345 6789 0123", pb::ENTRY_MODE_KEYED);
  const auto print = fingerprint(a, "DE");
  EXPECT_TRUE(print.matches(print.legacy));
  EXPECT_TRUE(print.matches(print.current));
  EXPECT_FALSE(
      print.matches(fingerprint(sale("6001234567890999", pb::ENTRY_MODE_KEYED), "DE").legacy));
  const auto bad = fingerprint(sale("not a card", pb::ENTRY_MODE_KEYED), "DE");
  EXPECT_NE(bad.current, fingerprint(sale("not  a card", pb::ENTRY_MODE_KEYED), "DE").current);
}

}  // namespace
}  // namespace accrue::agent::service_parts
