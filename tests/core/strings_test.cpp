#include "core/strings.h"

#include <gtest/gtest.h>

#include <string>

namespace livehub {
namespace {

TEST(AsciiLowerTest, FoldsOnlyAsciiUpperCaseLetters) {
  EXPECT_EQ(AsciiLower("HTTPS://App.Example.COM:8443/X?Token=Q"),
            "https://app.example.com:8443/x?token=q");
  EXPECT_EQ(AsciiLower(""), "");
  EXPECT_EQ(AsciiLower("@[`{09_-"), "@[`{09_-");  // the neighbours of 'A'..'Z' and 'a'..'z'
  const std::string utf8 = "\xC3\x84pfel \xC3\xA9t\xC3\xA9";  // "Äpfel été": bytes >= 0x80 kept
  EXPECT_EQ(AsciiLower(utf8), "\xC3\x84pfel \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(AsciiLower('Z'), 'z');
  EXPECT_EQ(AsciiLower('\xC3'), '\xC3');
}

TEST(EqualsIgnoreAsciiCaseTest, ComparesLengthAndFoldedBytes) {
  EXPECT_TRUE(EqualsIgnoreAsciiCase("Authorization", "authorization"));
  EXPECT_TRUE(EqualsIgnoreAsciiCase("", ""));
  EXPECT_FALSE(EqualsIgnoreAsciiCase("X-Key", "X-Keys"));
  EXPECT_FALSE(EqualsIgnoreAsciiCase("[", "{"));  // '[' is not 'Z' + 1 folded
  EXPECT_FALSE(EqualsIgnoreAsciiCase("\xC3\x84", "\xC3\xA4"));
}

}  // namespace
}  // namespace livehub
