// accruectl: the operator's and POS integrator's command-line tool. It speaks the agent's socket
// API (validate, profile, transactions, preview, accrue, redeem, return, enroll, status,
// tx-status), prices baskets offline (price, validate-program) and runs the till API's
// conformance cases against an agent (conformance).
//
// Exit codes: 0 success; otherwise sysexits(3) by error class (64 bad input, 65 refused or
// conflicting, 66 not found, 69 agent unavailable, 75 busy or timed out, 70 internal); 1 when a
// conformance case failed.
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>

#include "agent/ctl/client.h"
#include "agent/ctl/conformance.h"
#include "agent/ctl/price.h"
#include "common/civil_time.h"
#include "common/sys/system.h"
#include "common/uuid.h"
#include "common/wire/loyalty_codec.h"
#include "common/wire/pos_error.h"

namespace {

using namespace accrue;
namespace pb = accrue::pos::v1;

Result<std::string> read_input(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(ErrorCode::kNotFound, path + ": cannot open");
    ss << in.rdbuf();
  }
  if (ss.str().size() > (16u << 20)) {
    return fail(ErrorCode::kInvalidArgument, path + ": larger than 16 MiB");
  }
  return ss.str();
}

int report(const Error& e) {
  std::cerr << "accruectl: " << e.message << "\n";
  return exit_code(e.code);
}

struct Common {
  std::string socket = "/run/accrue/agent.sock";
  uint16_t tcp_port = 0;
  std::string till = "accruectl";
  bool json = false;
  int timeout_ms = 5000;
};

struct Who {
  std::string card, phone, email, qr, customer_id;
};

void add_identifier(CLI::App* cmd, Who& who, bool required) {
  auto* g = cmd->add_option_group("identifier", "Who (one of)");
  g->add_option("--card", who.card, "Loyalty card number");
  g->add_option("--phone", who.phone, "Phone number");
  g->add_option("--email", who.email, "E-mail address");
  g->add_option("--qr", who.qr, "QR token from the member's app");
  g->add_option("--customer-id", who.customer_id, "Customer id (UUID)");
  if (required)
    g->require_option(1);
  else
    g->require_option(0, 1);
}

bool set_identifier(const Who& who, pb::Identifier* id) {
  auto set = [&](pb::IdentifierKind kind, const std::string& v, pb::EntryMode mode) {
    id->set_kind(kind);
    id->set_value(v);
    id->set_entry_mode(mode);
    return true;
  };
  if (!who.card.empty()) return set(pb::IDENTIFIER_KIND_CARD, who.card, pb::ENTRY_MODE_KEYED);
  if (!who.phone.empty()) return set(pb::IDENTIFIER_KIND_PHONE, who.phone, pb::ENTRY_MODE_KEYED);
  if (!who.email.empty()) return set(pb::IDENTIFIER_KIND_EMAIL, who.email, pb::ENTRY_MODE_KEYED);
  if (!who.qr.empty()) return set(pb::IDENTIFIER_KIND_QR_TOKEN, who.qr, pb::ENTRY_MODE_QR);
  if (!who.customer_id.empty()) {
    return set(pb::IDENTIFIER_KIND_CUSTOMER_ID, who.customer_id, pb::ENTRY_MODE_KEYED);
  }
  return false;
}

Result<loyalty::v1::Basket> read_basket(const std::string& path) {
  ACCRUE_ASSIGN_OR_RETURN(auto text, read_input(path));
  loyalty::v1::Basket b;
  auto st = google::protobuf::util::JsonStringToMessage(text, &b);
  if (!st.ok()) return fail(ErrorCode::kInvalidArgument, "basket: " + std::string(st.message()));
  return b;
}

std::string json_of(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string status_name(pb::MemberStatus s) {
  switch (s) {
    case pb::MEMBER_STATUS_ACTIVE:
      return "active";
    case pb::MEMBER_STATUS_BLOCKED:
      return "BLOCKED";
    case pb::MEMBER_STATUS_PROVISIONAL:
      return "provisional";
    case pb::MEMBER_STATUS_UNKNOWN:
      return "unknown";
    default:
      return "?";
  }
}

void print_member(const pb::ValidateResult& v) {
  std::cout << "status     " << status_name(v.status()) << (v.offline() ? "  (agent offline)" : "")
            << "\n";
  if (v.replica_age_s() >= 0) std::cout << "replica    synced " << v.replica_age_s() << " s ago\n";
  if (!v.customer_id().empty()) {
    std::cout << "member     " << v.customer_id();
    if (!v.display_name().empty()) std::cout << "  " << v.display_name();
    std::cout << "\ntier       " << v.tier_name() << "\n";
  }
  std::cout << "available  " << v.available_points() << " points\n"
            << "pending    " << v.pending_points() << " points\n";
}

void print_coupon(const pb::CouponCheck& c) {
  std::cout << "coupon     " << c.coupon_id() << (c.bearer() ? "  (bearer)" : "") << "\n"
            << "reward     " << c.reward_name() << " (" << c.reward_id() << ")\n"
            << "expires    " << format_utc_iso8601(c.expires_at_ms()) << "\n";
  if (c.has_discount()) {
    auto money = wire::money_from_proto(c.discount());
    std::cout << "discount   " << (money ? money->to_string() : std::string("?")) << "\n";
  }
  if (c.free_line_no() != 0)
    std::cout << "free       one unit of line " << c.free_line_no() << "\n";
  if (c.points_multiplier_bp() != 0) {
    std::cout << "points     x" << static_cast<double>(c.points_multiplier_bp()) / 10000 << "\n";
  }
  if (!c.gift().empty()) std::cout << "gift       " << c.gift() << "\n";
}

// The rewards a member may claim, and a claim's outcome.
void print_rewards(const pb::Response& r) {
  switch (r.result_case()) {
    case pb::Response::kClaimReward: {
      const auto& c = r.claim_reward();
      std::cout << "claimed    " << c.reward_id() << "  " << c.reward_name() << "  "
                << c.cost_points() << " points" << (c.replayed() ? "  (replayed)" : "") << "\n"
                << "coupon     " << c.coupon_id() << "  until "
                << format_utc_iso8601(c.expires_at_ms()) << "\n";
      if (!c.code().empty()) std::cout << "code       " << c.code() << "\n";
      if (c.offline()) std::cout << "offline    the coupon is issued when the store uploads\n";
      if (!c.gift().empty()) std::cout << "hand over  " << c.gift() << "\n";
      std::cout << "available  " << c.available_points() << " points\n";
      break;
    }
    case pb::Response::kRewards: {
      const auto& l = r.rewards();
      std::cout << "available  " << l.available_points() << " points"
                << (l.offline() ? "  (store offline)" : "") << "\n";
      for (const auto& o : l.rewards()) {
        std::cout << (o.claimable() ? "  + " : "  - ") << o.reward_id() << "  " << o.name() << "  "
                  << o.cost_points() << " points"
                  << (o.offline_claimable() ? "  (offline too)" : "");
        if (!o.claimable()) std::cout << "\n      " << o.message();
        std::cout << "\n";
      }
      break;
    }
    default:
      break;
  }
}

void print_readable(const pb::Response& r) {
  switch (r.result_case()) {
    case pb::Response::kValidate:
      print_member(r.validate());
      break;
    case pb::Response::kProfile: {
      print_member(r.profile().member());
      if (!r.profile().reached_tier_id().empty()) {
        std::cout << "reached    " << r.profile().reached_tier_name()
                  << " (confirmed when online)\n";
      }
      if (!r.profile().next_tier_id().empty()) {
        std::cout << "next tier  " << r.profile().next_tier_id() << " in "
                  << r.profile().distance_to_next_tier() << "\n";
      }
      if (r.profile().expiring_points() > 0) {
        std::cout << "expiring   " << r.profile().expiring_points() << " points\n";
      }
      break;
    }
    case pb::Response::kTransactions:
      for (const auto& t : r.transactions().transactions()) {
        std::cout << t.occurred_at_ms() << "  " << pb::TransactionKind_Name(t.kind()).substr(17)
                  << "  " << t.points() << " points  " << t.pos_tx_id()
                  << (t.confirmed() ? "" : "  (pending upload)") << "\n";
      }
      if (!r.transactions().next_page_token().empty()) {
        std::cout << "more: --page " << r.transactions().next_page_token() << "\n";
      }
      break;
    case pb::Response::kPreview:
      std::cout << "earns " << r.preview().points() << " points (base " << r.preview().base_points()
                << ", bonus " << r.preview().bonus_points() << ", capped "
                << r.preview().capped_points() << ")\n";
      for (const auto& l : r.preview().lines()) {
        std::cout << "  line " << l.line_no() << ": " << l.points() << "\n";
      }
      break;
    case pb::Response::kAccrue:
      std::cout << "earned " << r.accrue().points_earned() << " points; available "
                << r.accrue().available_points() << ", pending " << r.accrue().pending_points()
                << (r.accrue().provisional() ? "  (provisional: unknown identifier)" : "")
                << (r.accrue().replayed() ? "  (replayed)" : "") << "\nevent "
                << r.accrue().event_id() << "\n";
      if (r.accrue().points_multiplier_bp() != 0) {
        std::cout << "points multiplied by a coupon: x"
                  << static_cast<double>(r.accrue().points_multiplier_bp()) / 10000 << "\n";
      }
      if (!r.accrue().reached_tier_id().empty()) {
        std::cout << "reached " << r.accrue().reached_tier_name() << " (confirmed when online)\n";
      }
      break;
    case pb::Response::kRedeem: {
      auto money = wire::money_from_proto(r.redeem().discount());
      std::cout << "redeemed " << r.redeem().points_redeemed() << " points for a "
                << (money ? money->to_string() : std::string("?")) << " discount; available "
                << r.redeem().available_points() << (r.redeem().replayed() ? "  (replayed)" : "")
                << "\n";
      break;
    }
    case pb::Response::kReturn:
      if (r.return_().pending()) {
        std::cout << "accepted; the points are reversed when the loyalty service decides"
                  << (r.return_().replayed() ? "  (replayed)" : "") << "\n";
        break;
      }
      std::cout << "reversed " << r.return_().points_reversed() << " points";
      if (r.return_().points_refunded() > 0) {
        std::cout << ", refunded " << r.return_().points_refunded() << " redeemed points";
      }
      std::cout << "; available " << r.return_().available_points()
                << (r.return_().replayed() ? "  (replayed)" : "") << "\n";
      break;
    case pb::Response::kEnroll:
      std::cout << "enrolled " << r.enroll().customer_id()
                << (r.enroll().provisional() ? " (provisional)" : "") << ", bonus "
                << r.enroll().bonus_points() << " points\n";
      break;
    case pb::Response::kTransactionStatus:
      if (!r.transaction_status().found()) {
        std::cout << "not found: the agent never recorded this transaction\n";
      } else {
        std::cout << "recorded (" << pb::TransactionKind_Name(r.transaction_status().kind())
                  << "); original answer:\n";
        print_readable(r.transaction_status().original());
      }
      break;
    case pb::Response::kAgentStatus: {
      const auto& s = r.agent_status();
      std::cout << "store      " << s.store_id() << " (agent " << s.agent_id() << ", "
                << s.version() << ")\n"
                << "online     " << (s.online() ? "yes" : "no") << "\n"
                << "outbox     " << s.outbox_depth() << " events, oldest "
                << s.oldest_pending_age_s() << " s\n"
                << "quarantine " << s.quarantined() << "\n"
                << "offline    " << s.offline_outstanding_points()
                << " points redeemed offline, not yet confirmed\n"
                << "program    v" << s.program_version() << "\n"
                << "zone       " << s.time_zone() << (s.country().empty() ? "" : ", ")
                << s.country() << "\n";
      break;
    }
    case pb::Response::kQuarantine: {
      const auto& q = r.quarantine();
      std::cout << q.total() << " quarantined event" << (q.total() == 1 ? "" : "s") << "\n";
      for (const auto& e : q.events()) {
        std::cout << "  seq " << e.seq() << "  " << e.kind() << "  " << e.event_id() << "  "
                  << format_utc_iso8601(e.occurred_at_ms()) << "\n    refused: " << e.reject_code()
                  << ": " << e.message() << "\n";
      }
      break;
    }
    case pb::Response::kQuarantineAction:
      std::cout << r.quarantine_action().affected() << " event"
                << (r.quarantine_action().affected() == 1 ? "" : "s") << " affected\n";
      break;
    case pb::Response::kCouponCheck:
      print_coupon(r.coupon_check());
      break;
    case pb::Response::kApplyCoupon:
      print_coupon(r.apply_coupon().coupon());
      std::cout << "used on this sale" << (r.apply_coupon().replayed() ? "  (replayed)" : "")
                << "\n";
      break;
    case pb::Response::kVoidCoupon:
      std::cout << "use voided: coupon " << r.void_coupon().coupon_id() << " can be used again"
                << (r.void_coupon().replayed() ? "  (replayed)" : "") << "\n";
      break;
    case pb::Response::kClaimReward:
    case pb::Response::kRewards:
      print_rewards(r);
      break;
    default:
      break;
  }
}

int call(const Common& c, pb::Request& req) {
  req.set_till_id(c.till);
  if (req.request_id().empty()) {
    SystemRandom rnd;
    req.set_request_id(Uuid::random_v4(rnd).to_string());
  }
  auto client = c.tcp_port != 0 ? ctl::AgentClient::connect_tcp(c.tcp_port)
                                : ctl::AgentClient::connect_unix(c.socket);
  if (!client) return report(client.error());
  client->set_timeout(std::chrono::milliseconds(c.timeout_ms));
  auto resp = client->call(req);
  if (!resp) return report(resp.error());
  if (c.json) std::cout << json_of(*resp);
  if (resp->has_error()) {
    if (!c.json)
      std::cerr << "accruectl: " << resp->error().message()
                << (resp->error().retryable() ? " (retryable)" : "") << "\n";
    return exit_code(wire::error_code_from_pos(resp->error().code()));
  }
  if (!c.json) print_readable(*resp);
  return 0;
}

// One subcommand: its parser (with its options bound) and what it does once parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int(const Common&)> run;
};
using Commands = std::vector<Command>;

// A till operation about one member: the request is built from the identifier and sent.
template <typename Options>
void add_call(CLI::App& app, Commands& out, const char* name, const char* help,
              bool identifier_required,
              std::function<Result<void>(const Options&, const Who&, pb::Request&)> build,
              std::function<void(CLI::App*, Options&)> options = {}) {
  auto who = std::make_shared<Who>();
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(name, help);
  add_identifier(cmd, *who, identifier_required);
  if (options) options(cmd, *o);
  out.push_back({cmd, [who, o, build](const Common& c) {
                   pb::Request req;
                   if (auto b = build(*o, *who, req); !b) return report(b.error());
                   return call(c, req);
                 }});
}

struct NoOptions {};

void add_reads(CLI::App& app, Commands& out) {
  add_call<NoOptions>(app, out, "validate", "Member status and balance", true,
                      [](const NoOptions&, const Who& who, pb::Request& req) -> Result<void> {
                        set_identifier(who, req.mutable_validate()->mutable_identifier());
                        return {};
                      });
  add_call<NoOptions>(app, out, "profile", "Member profile: tier progress, expiring points", true,
                      [](const NoOptions&, const Who& who, pb::Request& req) -> Result<void> {
                        set_identifier(who, req.mutable_get_profile()->mutable_identifier());
                        return {};
                      });
  add_call<NoOptions>(app, out, "rewards",
                      "The rewards a member may claim, with their cost and why not", true,
                      [](const NoOptions&, const Who& who, pb::Request& req) -> Result<void> {
                        set_identifier(who, req.mutable_list_rewards()->mutable_identifier());
                        return {};
                      });
  struct Page {
    uint32_t limit = 0;
    std::string token;
  };
  add_call<Page>(
      app, out, "transactions", "A member's recent transactions", true,
      [](const Page& p, const Who& who, pb::Request& req) -> Result<void> {
        auto* t = req.mutable_list_transactions();
        set_identifier(who, t->mutable_identifier());
        t->set_limit(p.limit);
        t->set_page_token(p.token);
        return {};
      },
      [](CLI::App* cmd, Page& p) {
        cmd->add_option("--limit", p.limit, "Rows per page");
        cmd->add_option("--page", p.token, "Page token from a previous call");
      });
}

struct BasketOptions {
  std::string basket = "-", tx;
  std::vector<std::string> paid_with;  // redemptions that paid for the basket
  std::vector<std::string> coupons;    // coupon uses applied to the basket
};

void add_basket_option(CLI::App* cmd, BasketOptions& o) {
  cmd->add_option("--basket", o.basket, "Basket JSON file, '-' for stdin")->capture_default_str();
}

void add_sales(CLI::App& app, Commands& out) {
  add_call<BasketOptions>(
      app, out, "preview", "Points a basket would earn (writes nothing)", false,
      [](const BasketOptions& o, const Who& who, pb::Request& req) -> Result<void> {
        ACCRUE_ASSIGN_OR_RETURN(auto basket, read_basket(o.basket));
        pb::Identifier id;
        if (set_identifier(who, &id)) *req.mutable_preview()->mutable_identifier() = id;
        *req.mutable_preview()->mutable_basket() = basket;
        return {};
      },
      add_basket_option);
  add_call<BasketOptions>(
      app, out, "accrue", "Record a sale and earn points", true,
      [](const BasketOptions& o, const Who& who, pb::Request& req) -> Result<void> {
        ACCRUE_ASSIGN_OR_RETURN(auto basket, read_basket(o.basket));
        set_identifier(who, req.mutable_accrue()->mutable_identifier());
        req.mutable_accrue()->set_pos_tx_id(o.tx);
        *req.mutable_accrue()->mutable_basket() = basket;
        for (const auto& p : o.paid_with) req.mutable_accrue()->add_redemption_pos_tx_ids(p);
        for (const auto& c : o.coupons) req.mutable_accrue()->add_coupon_pos_tx_ids(c);
        return {};
      },
      [](CLI::App* cmd, BasketOptions& o) {
        add_basket_option(cmd, o);
        cmd->add_option("--tx", o.tx, "POS transaction id (idempotency key)")->required();
        cmd->add_option("--paid-with", o.paid_with,
                        "POS transaction id of a redemption that paid for this basket, "
                        "repeatable (a return then refunds its share)");
        cmd->add_option("--coupon", o.coupons,
                        "POS transaction id of a coupon applied to this basket, repeatable (a "
                        "points multiplier multiplies its points)");
      });
}

struct RedeemOptions {
  std::string tx, discount;
  int64_t points = 0;
};

// "5.00EUR" as money.
Result<Money> parse_discount(const std::string& text) {
  if (text.size() < 4) return fail(ErrorCode::kInvalidArgument, "--discount: like 5.00EUR");
  ACCRUE_ASSIGN_OR_RETURN(auto currency, Currency::from_code(text.substr(text.size() - 3)));
  return Money::parse(text.substr(0, text.size() - 3), currency);
}

void add_redeem(CLI::App& app, Commands& out) {
  add_call<RedeemOptions>(
      app, out, "redeem", "Spend points for a discount", true,
      [](const RedeemOptions& o, const Who& who, pb::Request& req) -> Result<void> {
        auto* r = req.mutable_redeem();
        set_identifier(who, r->mutable_identifier());
        r->set_pos_tx_id(o.tx);
        if (o.discount.empty()) {
          r->set_points(o.points);
          return {};
        }
        ACCRUE_ASSIGN_OR_RETURN(auto money, parse_discount(o.discount));
        *r->mutable_discount() = wire::money_to_proto(money);
        return {};
      },
      [](CLI::App* cmd, RedeemOptions& o) {
        cmd->add_option("--tx", o.tx, "POS transaction id")->required();
        auto* amount = cmd->add_option_group("amount", "How much");
        amount->add_option("--points", o.points, "Points to redeem");
        amount->add_option("--discount", o.discount, "Discount wanted, e.g. 5.00EUR");
        amount->require_option(1);
      });
}

void add_return(CLI::App& app, Commands& out) {
  struct Options {
    std::string tx, original_tx, original_till, original_store, receipt;
    std::vector<std::string> lines;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("return", "Return lines of an earlier sale");
  cmd->add_option("--tx", o->tx, "POS transaction id of the return")->required();
  auto* by_tx = cmd->add_option("--original-tx", o->original_tx, "POS transaction id of the sale");
  cmd->add_option("--original-till", o->original_till, "Till of the sale (default: --till)");
  cmd->add_option("--original-store", o->original_store,
                  "Store of the sale, when another one (the cloud decides)");
  auto* by_receipt = cmd->add_option("--receipt", o->receipt,
                                     "Receipt id printed on the slip, instead of --original-tx");
  by_tx->excludes(by_receipt);
  cmd->callback([by_tx, by_receipt] {
    if (by_tx->count() == 0 && by_receipt->count() == 0) {
      throw CLI::ValidationError("return", "give --original-tx or --receipt");
    }
  });
  cmd->add_option("--line", o->lines, "LINE_NO:QUANTITY_MILLI, repeatable")->required();
  out.push_back({cmd, [o](const Common& c) {
                   pb::Request req;
                   auto* r = req.mutable_return_();
                   r->set_pos_tx_id(o->tx);
                   r->set_original_pos_tx_id(o->original_tx);
                   r->set_original_till_id(o->original_till);
                   r->set_original_store_id(o->original_store);
                   r->set_receipt_id(o->receipt);
                   for (const auto& spec : o->lines) {
                     auto colon = spec.find(':');
                     try {
                       auto* l = r->add_lines();
                       l->set_line_no(static_cast<uint32_t>(std::stoul(spec.substr(0, colon))));
                       l->set_quantity_milli(
                           colon == std::string::npos ? 1000 : std::stoll(spec.substr(colon + 1)));
                     } catch (const std::exception&) {
                       return report({ErrorCode::kInvalidArgument,
                                      "--line: want LINE_NO:QUANTITY_MILLI, got " + spec});
                     }
                   }
                   return call(c, req);
                 }});
}

void add_enroll(CLI::App& app, Commands& out) {
  struct Options {
    std::string tx, name;
    bool terms = false, marketing_email = false, marketing_sms = false;
    uint32_t month = 0, day = 0;
  };
  add_call<Options>(
      app, out, "enroll", "Enrol a new member at this store", true,
      [](const Options& o, const Who& who, pb::Request& req) -> Result<void> {
        auto* e = req.mutable_enroll();
        set_identifier(who, e->add_identifiers());
        e->set_pos_tx_id(o.tx);
        e->set_display_name(o.name);
        e->mutable_consents()->set_terms(o.terms);
        e->mutable_consents()->set_marketing_email(o.marketing_email);
        e->mutable_consents()->set_marketing_sms(o.marketing_sms);
        e->set_birthday_month(o.month);
        e->set_birthday_day(o.day);
        return {};
      },
      [](CLI::App* cmd, Options& o) {
        cmd->add_option("--tx", o.tx, "POS transaction id")->required();
        cmd->add_option("--name", o.name, "Display name (e.g. first name and initial)");
        cmd->add_flag("--accept-terms", o.terms, "The member accepted the programme terms");
        cmd->add_flag("--marketing-email", o.marketing_email, "Consent to marketing e-mail");
        cmd->add_flag("--marketing-sms", o.marketing_sms, "Consent to marketing SMS");
        cmd->add_option("--birthday-month", o.month);
        cmd->add_option("--birthday-day", o.day);
      });
}

void add_coupons(CLI::App& app, Commands& out) {
  auto* coupon = app.add_subcommand("coupon", "Coupons: check one, use it on a sale, void a use");
  coupon->require_subcommand(1);
  struct Options {
    std::string code, basket, tx, applied;
  };
  add_call<Options>(
      *coupon, out, "check", "Whether a coupon can be used (with --basket: what it takes off)",
      false,
      [](const Options& o, const Who& who, pb::Request& req) -> Result<void> {
        auto* c = req.mutable_check_coupon();
        c->set_code(o.code);
        set_identifier(who, c->mutable_identifier());
        if (!o.basket.empty()) {
          ACCRUE_ASSIGN_OR_RETURN(auto basket, read_basket(o.basket));
          *c->mutable_basket() = basket;
        }
        return {};
      },
      [](CLI::App* cmd, Options& o) {
        cmd->add_option("--code", o.code, "The coupon's code as printed or scanned")->required();
        cmd->add_option("--basket", o.basket, "Basket JSON file, '-' for stdin");
      });
  add_call<Options>(
      *coupon, out, "apply", "Use a coupon on a sale (once chain-wide)", false,
      [](const Options& o, const Who& who, pb::Request& req) -> Result<void> {
        auto* a = req.mutable_apply_coupon();
        a->set_code(o.code);
        a->set_pos_tx_id(o.tx);
        set_identifier(who, a->mutable_identifier());
        ACCRUE_ASSIGN_OR_RETURN(auto basket, read_basket(o.basket.empty() ? "-" : o.basket));
        *a->mutable_basket() = basket;
        return {};
      },
      [](CLI::App* cmd, Options& o) {
        cmd->add_option("--code", o.code, "The coupon's code as printed or scanned")->required();
        cmd->add_option("--basket", o.basket, "Basket JSON file, '-' for stdin (default)");
        cmd->add_option("--tx", o.tx, "POS transaction id of the use")->required();
      });
  add_call<Options>(
      *coupon, out, "void", "Undo a use whose sale did not happen", false,
      [](const Options& o, const Who&, pb::Request& req) -> Result<void> {
        req.mutable_void_coupon()->set_pos_tx_id(o.tx);
        req.mutable_void_coupon()->set_applied_pos_tx_id(o.applied);
        return {};
      },
      [](CLI::App* cmd, Options& o) {
        cmd->add_option("--tx", o.tx, "POS transaction id of the void")->required();
        cmd->add_option("--applied-tx", o.applied, "POS transaction id of the use")->required();
      });
}

void add_claim(CLI::App& app, Commands& out) {
  struct Options {
    std::string reward, tx;
  };
  add_call<Options>(
      app, out, "claim", "Claim a reward for a member: its cost in points, a coupon issued", true,
      [](const Options& o, const Who& who, pb::Request& req) -> Result<void> {
        auto* c = req.mutable_claim_reward();
        c->set_pos_tx_id(o.tx);
        c->set_reward_id(o.reward);
        set_identifier(who, c->mutable_identifier());
        return {};
      },
      [](CLI::App* cmd, Options& o) {
        cmd->add_option("--reward", o.reward, "The reward's id (accruectl rewards lists them)")
            ->required();
        cmd->add_option("--tx", o.tx, "POS transaction id of the claim")->required();
      });
}

void add_agent_state(CLI::App& app, Commands& out) {
  out.push_back({app.add_subcommand("status", "The agent's state: online, queue, program"),
                 [](const Common& c) {
                   pb::Request req;
                   req.mutable_get_agent_status();
                   return call(c, req);
                 }});
  struct Options {
    std::string tx, till;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tx-status", "What happened to a transaction");
  cmd->add_option("--tx", o->tx, "POS transaction id")->required();
  cmd->add_option("--original-till", o->till, "Till (default: --till)");
  out.push_back({cmd, [o](const Common& c) {
                   pb::Request req;
                   req.mutable_get_transaction_status()->set_pos_tx_id(o->tx);
                   req.mutable_get_transaction_status()->set_till_id(o->till);
                   return call(c, req);
                 }});
}

void add_quarantine(CLI::App& app, Commands& out) {
  struct Options {
    std::vector<int64_t> seqs;
    bool all = false;
    std::string reason;
    int64_t after = 0;
    uint32_t limit = 50;
  };
  auto o = std::make_shared<Options>();
  auto* quarantine =
      app.add_subcommand("quarantine", "Events the cloud refused: list, resubmit or drop them");
  quarantine->require_subcommand(1);
  auto* list = quarantine->add_subcommand("list", "The quarantined events, oldest first");
  list->add_option("--after", o->after, "Only seqs after this one (paging)");
  list->add_option("--limit", o->limit, "At most this many (<= 500)")->capture_default_str();
  out.push_back({list, [o](const Common& c) {
                   pb::Request req;
                   req.mutable_list_quarantine()->set_after_seq(o->after);
                   req.mutable_list_quarantine()->set_limit(o->limit);
                   return call(c, req);
                 }});
  auto* resubmit = quarantine->add_subcommand(
      "resubmit", "Send events again, same id and bytes (after fixing the cause in the cloud)");
  auto* drop = quarantine->add_subcommand("drop", "Give events up for good");
  drop->add_option("--reason", o->reason, "Why (logged)")->required();
  for (auto* sub : {resubmit, drop}) {
    auto* seqs = sub->add_option("--seq", o->seqs, "Quarantined seq (repeatable)");
    auto* all = sub->add_flag("--all", o->all, "Every quarantined event");
    seqs->excludes(all);
    const auto action = sub == drop ? pb::QuarantineActionRequest::ACTION_DROP
                                    : pb::QuarantineActionRequest::ACTION_RESUBMIT;
    out.push_back({sub, [o, action](const Common& c) {
                     if (o->seqs.empty() && !o->all) {
                       std::cerr << "accruectl: quarantine: give --seq N (repeatable) or --all\n";
                       return 64;
                     }
                     pb::Request req;
                     auto* a = req.mutable_quarantine_action();
                     a->set_action(action);
                     for (int64_t seq : o->seqs) a->add_seqs(seq);
                     a->set_all(o->all);
                     a->set_reason(o->reason);
                     return call(c, req);
                   }});
  }
}

// The offline commands: no agent needed.
void add_programme_tools(CLI::App& app, Commands& out) {
  struct Options {
    std::string program, basket, tier, country;
    int64_t earned_today = 0, balance = 0;
  };
  auto o = std::make_shared<Options>();
  auto* price = app.add_subcommand("price", "Price a basket under a program file, for every tier");
  price->add_option("--program", o->program, "Program file (protobuf JSON)")->required();
  price->add_option("--basket", o->basket, "Basket file (protobuf JSON)")->required();
  price->add_option("--tier", o->tier, "Only this tier (default: every tier)");
  price->add_option("--earned-today", o->earned_today, "Points already earned today (daily cap)")
      ->check(CLI::NonNegativeNumber);
  price->add_option("--balance", o->balance, "Available points before this basket")
      ->check(CLI::NonNegativeNumber);
  price->add_option("--country", o->country,
                    "The store's country (ISO 3166-1 alpha-2), for per-country rates");
  out.push_back({price, [o](const Common&) {
                   auto program = read_input(o->program);
                   if (!program) return report(program.error());
                   auto basket = read_input(o->basket);
                   if (!basket) return report(basket.error());
                   ZoneinfoSource zones;
                   auto text = ctl::price_report(
                       {*program, *basket, o->tier, o->earned_today, o->balance, o->country},
                       zones);
                   if (!text) return report(text.error());
                   std::cout << *text;
                   return 0;
                 }});
  auto file = std::make_shared<std::string>();
  auto* check = app.add_subcommand("validate-program", "Check a program file");
  check->add_option("file", *file, "Program file (protobuf JSON)")->required();
  out.push_back({check, [file](const Common&) {
                   auto text = read_input(*file);
                   if (!text) return report(text.error());
                   auto p = wire::program_from_json(*text);
                   if (!p) return report(p.error());
                   std::cout << "ok: program " << p->program_id << " v" << p->version << ", "
                             << p->rules.size() << " rules, " << p->tiers.ladder.size()
                             << " tiers\n";
                   return 0;
                 }});
}

// The till API's conformance suite (proto/conformance/README.md) against the agent at --socket or
// --tcp-port, in one framing or both. Exit 0 when every case passed, 1 when one failed.
void add_conformance(CLI::App& app, Commands& out) {
  struct Options {
    std::string cases;
    std::string framing = "both";
    std::string run_token;
    bool show = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "conformance", "Run the till API's conformance cases against an agent (or a stand-in)");
  cmd->add_option("cases", o->cases,
                  "The cases file (default: proto/conformance/till-api.json in a source tree, "
                  "else the installed /usr/share/accrue/conformance/till-api.json)");
  cmd->add_option("--framing", o->framing, "binary, json or both")
      ->check(CLI::IsMember({"binary", "json", "both"}))
      ->capture_default_str();
  cmd->add_option("--run-token", o->run_token,
                  "Replaces ${run} in requests (default: from the clock, new each run)");
  cmd->add_flag("--show", o->show, "Print every request and its answer");
  out.push_back({cmd, [o](const Common& c) {
                   std::string cases = o->cases;
                   if (cases.empty()) {
                     cases = "proto/conformance/till-api.json";
                     if (!std::filesystem::exists(cases)) {
                       cases = "/usr/share/accrue/conformance/till-api.json";
                     }
                   }
                   auto text = read_input(cases);
                   if (!text) return report(text.error());
                   std::string token = o->run_token;
                   if (token.empty()) {
                     token = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
                   }
                   int failed = 0;
                   for (auto framing : {agent::Framing::kBinary, agent::Framing::kJsonLines}) {
                     const bool json = framing == agent::Framing::kJsonLines;
                     if (o->framing != "both" && (o->framing == "json") != json) continue;
                     ctl::ConformanceOptions opts;
                     opts.framing = framing;
                     opts.run_token = token + (json ? "j" : "b");
                     opts.show = o->show ? &std::cout : nullptr;
                     opts.connect = [&c, framing]() -> Result<ctl::AgentClient> {
                       auto client = c.tcp_port != 0
                                         ? ctl::AgentClient::connect_tcp(c.tcp_port, framing)
                                         : ctl::AgentClient::connect_unix(c.socket, framing);
                       if (client) client->set_timeout(std::chrono::milliseconds(c.timeout_ms));
                       return client;
                     };
                     auto r = ctl::run_conformance(*text, opts);
                     if (!r) return report(r.error());
                     for (const auto& f : r->failures) std::cout << "FAIL " << f << "\n";
                     std::cout << "conformance (" << (json ? "JSON lines" : "binary")
                               << "): " << r->passed << " passed, " << r->failures.size()
                               << " failed, " << r->skipped << " for the other framing\n";
                     failed += static_cast<int>(r->failures.size());
                   }
                   return failed == 0 ? 0 : 1;
                 }});
}

int run(int argc, char** argv) {
  CLI::App app{"accruectl — Accrue's command-line tool"};
  app.require_subcommand(1);
  Common c;
  app.add_option("--socket", c.socket, "The agent's unix socket")->capture_default_str();
  app.add_option("--tcp-port", c.tcp_port, "Talk to 127.0.0.1:PORT instead of the socket");
  app.add_option("--till", c.till, "Till id sent with requests")->capture_default_str();
  app.add_flag("--json", c.json, "Print the response as JSON");
  app.add_option("--timeout-ms", c.timeout_ms, "Per-call timeout")->capture_default_str();
  Commands commands;
  for (auto add : {add_reads, add_sales, add_redeem, add_return, add_enroll, add_coupons, add_claim,
                   add_agent_state, add_quarantine, add_programme_tools, add_conformance}) {
    add(app, commands);
  }
  CLI11_PARSE(app, argc, argv);
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run(c);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_guarded("accruectl", run, argc, argv); }
