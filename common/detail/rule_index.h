// An index over a validated program's sku and category names, so the engine matches a basket
// line against every rule with a few hash lookups instead of string comparisons per rule.
// Built once by validate_and_normalize and shared (immutable) by every copy of the program.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace accrue {
struct Program;
}

namespace accrue::detail {

inline constexpr size_t kRuleMaskWords = 8;  // 512 bits >= kMaxRules
// Bit r stands for program.rules[r]. Only the first RuleIndex::words words are ever used.
using RuleMask = std::array<uint64_t, kRuleMaskWords>;

struct TermHits {
  RuleMask sku_rules{};       // rules whose sku filter lists this name
  RuleMask category_rules{};  // rules whose category filter lists this name
  bool excluded_sku = false;
  bool excluded_category = false;
};

class RuleIndex {
 public:
  static std::shared_ptr<const RuleIndex> build(const Program& program);

  // nullptr when no rule or exclusion names `name`.
  const TermHits* find(std::string_view name) const;

  size_t rule_count() const { return rule_count_; }
  size_t words() const { return words_; }                   // 64-bit words in use per mask
  const RuleMask& needs_sku() const { return needs_sku_; }  // rules filtering skus
  const RuleMask& needs_category() const { return needs_category_; }  // ... categories
  const RuleMask& all_rules() const { return all_rules_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t term = UINT32_MAX;  // index into terms_, UINT32_MAX = empty
  };
  static uint64_t hash(std::string_view s);

  std::vector<std::pair<std::string, TermHits>> terms_;
  std::vector<Slot> slots_;  // open addressing, power-of-two size, linear probing
  RuleMask needs_sku_{}, needs_category_{}, all_rules_{};
  size_t rule_count_ = 0;
  size_t words_ = 0;
};

}  // namespace accrue::detail
