// accruectl: the operator's and POS integrator's command-line tool.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/ctl/price.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"

namespace {

accrue::Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return accrue::fail(accrue::ErrorCode::kNotFound, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (16u << 20)) {
    return accrue::fail(accrue::ErrorCode::kInvalidArgument, path + ": larger than 16 MiB");
  }
  return ss.str();
}

int report(const accrue::Error& e) {
  std::cerr << "accruectl: " << e.message << "\n";
  return accrue::exit_code(e.code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"accruectl — Accrue's command-line tool"};
  app.require_subcommand(1);

  std::string program_path, basket_path, tier;
  int64_t earned_today = 0, balance = 0;
  auto* price = app.add_subcommand("price", "Price a basket under a program, for every tier");
  price->add_option("--program", program_path, "Program file (protobuf JSON)")->required();
  price->add_option("--basket", basket_path, "Basket file (protobuf JSON)")->required();
  price->add_option("--tier", tier, "Only this tier (default: every tier)");
  price->add_option("--earned-today", earned_today, "Points already earned today (daily cap)")
      ->check(CLI::NonNegativeNumber);
  price->add_option("--balance", balance, "Available points before this basket")
      ->check(CLI::NonNegativeNumber);

  std::string validate_path;
  auto* validate = app.add_subcommand("validate-program", "Check a program file");
  validate->add_option("file", validate_path, "Program file (protobuf JSON)")->required();

  CLI11_PARSE(app, argc, argv);

  if (price->parsed()) {
    auto program = read_file(program_path);
    if (!program) return report(program.error());
    auto basket = read_file(basket_path);
    if (!basket) return report(basket.error());
    accrue::ZoneinfoSource zones;
    auto out = accrue::ctl::price_report({*program, *basket, tier, earned_today, balance}, zones);
    if (!out) return report(out.error());
    std::cout << *out;
    return 0;
  }
  if (validate->parsed()) {
    auto text = read_file(validate_path);
    if (!text) return report(text.error());
    auto p = accrue::wire::program_from_json(*text);
    if (!p) return report(p.error());
    std::cout << "ok: program " << p->program_id << " v" << p->version << ", " << p->rules.size()
              << " rules, " << p->tiers.ladder.size() << " tiers\n";
    return 0;
  }
  return 0;
}
