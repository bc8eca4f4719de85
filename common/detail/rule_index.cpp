#include "common/detail/rule_index.h"

#include <bit>
#include <unordered_map>

#include "common/program.h"

namespace accrue::detail {

uint64_t RuleIndex::hash(std::string_view s) {
  // FNV-1a with a final mix: short keys (skus, category names) hash in a few nanoseconds.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h ^ (h >> 29);
}

const TermHits* RuleIndex::find(std::string_view name) const {
  if (slots_.empty()) return nullptr;
  const uint64_t h = hash(name);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.term == UINT32_MAX) return nullptr;
    if (s.hash == h && terms_[s.term].first == name) return &terms_[s.term].second;
  }
}

std::shared_ptr<const RuleIndex> RuleIndex::build(const Program& p) {
  auto index = std::make_shared<RuleIndex>();
  RuleIndex& x = *index;
  x.rule_count_ = p.rules.size();
  x.words_ = (p.rules.size() + 63) / 64;
  auto set = [](RuleMask& m, size_t r) { m[r / 64] |= uint64_t{1} << (r % 64); };
  // Build-time only; the keys view the program's own strings, which outlive the build.
  std::unordered_map<std::string_view, size_t> seen;
  x.terms_.reserve(p.excluded_skus.size() + p.excluded_categories.size() + 16);
  auto add = [&](const std::string& name) -> TermHits& {
    auto [it, fresh] = seen.try_emplace(name, x.terms_.size());
    if (fresh) x.terms_.emplace_back(name, TermHits{});
    return x.terms_[it->second].second;
  };
  for (size_t r = 0; r < p.rules.size(); ++r) set(x.all_rules_, r);
  for (const auto& s : p.excluded_skus) add(s).excluded_sku = true;
  for (const auto& c : p.excluded_categories) add(c).excluded_category = true;
  for (size_t r = 0; r < p.rules.size(); ++r) {
    const EarningRule& rule = p.rules[r];
    if (!rule.skus.empty()) set(x.needs_sku_, r);
    if (!rule.categories.empty()) set(x.needs_category_, r);
    for (const auto& s : rule.skus) set(add(s).sku_rules, r);
    for (const auto& c : rule.categories) set(add(c).category_rules, r);
  }
  // At most half full, so probes stay short.
  x.slots_.resize(std::bit_ceil(std::max<size_t>(4, x.terms_.size() * 2)));
  const size_t mask = x.slots_.size() - 1;
  for (uint32_t t = 0; t < x.terms_.size(); ++t) {
    const uint64_t h = hash(x.terms_[t].first);
    size_t i = h & mask;
    while (x.slots_[i].term != UINT32_MAX) i = (i + 1) & mask;
    x.slots_[i] = {h, t};
  }
  return index;
}

}  // namespace accrue::detail
