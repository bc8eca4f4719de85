// The sealed contact (common/sealed_contact.h): what a store seals only the cloud's key opens,
// and anything tampered with, cut short or sealed to another key is refused.
#include "common/sealed_contact.h"

#include <gtest/gtest.h>

namespace accrue {
namespace {

ContactOpener opener() {
  auto pem = make_contact_key_pem();
  EXPECT_TRUE(pem);
  auto o = ContactOpener::from_pem(*pem);
  EXPECT_TRUE(o) << o.error().message;
  return *o;
}

TEST(SealedContactTest, OnlyTheCloudsKeyOpensWhatAStoreSealed) {
  const ContactOpener cloud = opener();
  const ContactDetails anna{"anna.schmidt@example.org", "+4915123456789"};
  auto sealed = seal_contact(cloud.public_key(), anna);
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(sealed->find("anna"), std::string::npos) << "nothing readable in the box";
  EXPECT_EQ(sealed->find("4915"), std::string::npos);
  auto opened = cloud.open(*sealed);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->email, anna.email);
  EXPECT_EQ(opened->phone, anna.phone);
  EXPECT_NE(*seal_contact(cloud.public_key(), anna), *sealed) << "a fresh key and nonce each time";
  auto only_phone = cloud.open(*seal_contact(cloud.public_key(), {"", "+4915123456789"}));
  ASSERT_TRUE(only_phone);
  EXPECT_EQ(only_phone->email, "");
  EXPECT_EQ(only_phone->phone, "+4915123456789");

  EXPECT_FALSE(opener().open(*sealed)) << "another cloud's key";
  for (size_t at : {size_t{0}, size_t{5}, size_t{40}, sealed->size() - 1}) {
    std::string bad = *sealed;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    EXPECT_FALSE(cloud.open(bad)) << "a flipped bit at " << at;
  }
  EXPECT_FALSE(cloud.open(sealed->substr(0, sealed->size() - 1)));
  EXPECT_FALSE(cloud.open(""));
}

TEST(SealedContactTest, BadInputIsRefusedClearly) {
  const ContactOpener cloud = opener();
  EXPECT_FALSE(seal_contact(cloud.public_key(), {"a@b.c\nx", ""}));
  EXPECT_FALSE(seal_contact(cloud.public_key(), {std::string(400, 'a'), ""}));
  auto bad =
      ContactOpener::from_pem("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("X25519"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace accrue
