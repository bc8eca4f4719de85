// accruectl: the operator's and POS integrator's command-line tool. It speaks the agent's socket
// API (validate, profile, transactions, preview, accrue, redeem, return, enroll, status,
// tx-status) and prices baskets offline (price, validate-program).
//
// Exit codes: 0 success; otherwise sysexits(3) by error class (64 bad input, 65 refused or
// conflicting, 66 not found, 69 agent unavailable, 75 busy or timed out, 70 internal).
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/ctl/client.h"
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
  auto text = read_input(path);
  if (!text) return std::unexpected(text.error());
  loyalty::v1::Basket b;
  auto st = google::protobuf::util::JsonStringToMessage(*text, &b);
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

void print_readable(const pb::Response& r) {
  switch (r.result_case()) {
    case pb::Response::kValidate:
      print_member(r.validate());
      break;
    case pb::Response::kProfile: {
      print_member(r.profile().member());
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
      std::cout << "reversed " << r.return_().points_reversed() << " points; available "
                << r.return_().available_points() << (r.return_().replayed() ? "  (replayed)" : "")
                << "\n";
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
                << "program    v" << s.program_version() << "\n";
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"accruectl — Accrue's command-line tool"};
  app.require_subcommand(1);
  Common c;
  app.add_option("--socket", c.socket, "The agent's unix socket")->capture_default_str();
  app.add_option("--tcp-port", c.tcp_port, "Talk to 127.0.0.1:PORT instead of the socket");
  app.add_option("--till", c.till, "Till id sent with requests")->capture_default_str();
  app.add_flag("--json", c.json, "Print the response as JSON");
  app.add_option("--timeout-ms", c.timeout_ms, "Per-call timeout")->capture_default_str();

  Who who;
  std::string basket_path = "-", tx, original_tx, original_till, page, discount, name;
  int64_t points = 0;
  uint32_t limit = 0, bmonth = 0, bday = 0;
  std::vector<std::string> return_lines;
  bool terms = false, marketing_email = false, marketing_sms = false;

  auto* validate = app.add_subcommand("validate", "Member status and balance");
  add_identifier(validate, who, true);
  auto* profile = app.add_subcommand("profile", "Member profile: tier progress, expiring points");
  add_identifier(profile, who, true);
  auto* transactions = app.add_subcommand("transactions", "A member's recent transactions");
  add_identifier(transactions, who, true);
  transactions->add_option("--limit", limit, "Rows per page");
  transactions->add_option("--page", page, "Page token from a previous call");
  auto* preview = app.add_subcommand("preview", "Points a basket would earn (writes nothing)");
  add_identifier(preview, who, false);
  preview->add_option("--basket", basket_path, "Basket JSON file, '-' for stdin")
      ->capture_default_str();
  auto* accrue_cmd = app.add_subcommand("accrue", "Record a sale and earn points");
  add_identifier(accrue_cmd, who, true);
  accrue_cmd->add_option("--basket", basket_path, "Basket JSON file, '-' for stdin")
      ->capture_default_str();
  accrue_cmd->add_option("--tx", tx, "POS transaction id (idempotency key)")->required();
  auto* redeem = app.add_subcommand("redeem", "Spend points for a discount");
  add_identifier(redeem, who, true);
  redeem->add_option("--tx", tx, "POS transaction id")->required();
  auto* amount = redeem->add_option_group("amount", "How much");
  amount->add_option("--points", points, "Points to redeem");
  amount->add_option("--discount", discount, "Discount wanted, e.g. 5.00EUR");
  amount->require_option(1);
  auto* ret = app.add_subcommand("return", "Return lines of an earlier sale");
  ret->add_option("--tx", tx, "POS transaction id of the return")->required();
  ret->add_option("--original-tx", original_tx, "POS transaction id of the sale")->required();
  ret->add_option("--original-till", original_till, "Till of the sale (default: --till)");
  ret->add_option("--line", return_lines, "LINE_NO:QUANTITY_MILLI, repeatable")->required();
  auto* enroll = app.add_subcommand("enroll", "Enrol a new member at this store");
  add_identifier(enroll, who, true);
  enroll->add_option("--tx", tx, "POS transaction id")->required();
  enroll->add_option("--name", name, "Display name (e.g. first name and initial)");
  enroll->add_flag("--accept-terms", terms, "The member accepted the programme terms");
  enroll->add_flag("--marketing-email", marketing_email, "Consent to marketing e-mail");
  enroll->add_flag("--marketing-sms", marketing_sms, "Consent to marketing SMS");
  enroll->add_option("--birthday-month", bmonth);
  enroll->add_option("--birthday-day", bday);
  auto* status = app.add_subcommand("status", "The agent's state: online, queue, program");
  auto* tx_status = app.add_subcommand("tx-status", "What happened to a transaction");
  tx_status->add_option("--tx", tx, "POS transaction id")->required();
  tx_status->add_option("--original-till", original_till, "Till (default: --till)");

  auto* quarantine =
      app.add_subcommand("quarantine", "Events the cloud refused: list, resubmit or drop them");
  quarantine->require_subcommand(1);
  std::vector<int64_t> q_seqs;
  bool q_all = false;
  std::string q_reason;
  int64_t q_after = 0;
  uint32_t q_limit = 50;
  auto* q_list = quarantine->add_subcommand("list", "The quarantined events, oldest first");
  q_list->add_option("--after", q_after, "Only seqs after this one (paging)");
  q_list->add_option("--limit", q_limit, "At most this many (<= 500)")->capture_default_str();
  auto* q_resubmit = quarantine->add_subcommand(
      "resubmit", "Send events again, same id and bytes (after fixing the cause in the cloud)");
  auto* q_drop = quarantine->add_subcommand("drop", "Give events up for good");
  for (auto* sub : {q_resubmit, q_drop}) {
    auto* seqs = sub->add_option("--seq", q_seqs, "Quarantined seq (repeatable)");
    auto* all = sub->add_flag("--all", q_all, "Every quarantined event");
    seqs->excludes(all);
  }
  q_drop->add_option("--reason", q_reason, "Why (logged)")->required();

  std::string program_path, price_basket, tier, price_country;
  int64_t earned_today = 0, balance = 0;
  auto* price = app.add_subcommand("price", "Price a basket under a program file, for every tier");
  price->add_option("--program", program_path, "Program file (protobuf JSON)")->required();
  price->add_option("--basket", price_basket, "Basket file (protobuf JSON)")->required();
  price->add_option("--tier", tier, "Only this tier (default: every tier)");
  price->add_option("--earned-today", earned_today, "Points already earned today (daily cap)")
      ->check(CLI::NonNegativeNumber);
  price->add_option("--balance", balance, "Available points before this basket")
      ->check(CLI::NonNegativeNumber);
  price->add_option("--country", price_country,
                    "The store's country (ISO 3166-1 alpha-2), for per-country rates");
  std::string validate_path;
  auto* validate_program = app.add_subcommand("validate-program", "Check a program file");
  validate_program->add_option("file", validate_path, "Program file (protobuf JSON)")->required();

  CLI11_PARSE(app, argc, argv);

  pb::Request req;
  if (validate->parsed()) {
    set_identifier(who, req.mutable_validate()->mutable_identifier());
    return call(c, req);
  }
  if (profile->parsed()) {
    set_identifier(who, req.mutable_get_profile()->mutable_identifier());
    return call(c, req);
  }
  if (transactions->parsed()) {
    auto* t = req.mutable_list_transactions();
    set_identifier(who, t->mutable_identifier());
    t->set_limit(limit);
    t->set_page_token(page);
    return call(c, req);
  }
  if (preview->parsed() || accrue_cmd->parsed()) {
    auto basket = read_basket(basket_path);
    if (!basket) return report(basket.error());
    if (preview->parsed()) {
      pb::Identifier id;
      if (set_identifier(who, &id)) *req.mutable_preview()->mutable_identifier() = id;
      *req.mutable_preview()->mutable_basket() = *basket;
    } else {
      set_identifier(who, req.mutable_accrue()->mutable_identifier());
      req.mutable_accrue()->set_pos_tx_id(tx);
      *req.mutable_accrue()->mutable_basket() = *basket;
    }
    return call(c, req);
  }
  if (redeem->parsed()) {
    auto* r = req.mutable_redeem();
    set_identifier(who, r->mutable_identifier());
    r->set_pos_tx_id(tx);
    if (!discount.empty()) {
      if (discount.size() < 4)
        return report({ErrorCode::kInvalidArgument, "--discount: like 5.00EUR"});
      auto currency = Currency::from_code(discount.substr(discount.size() - 3));
      if (!currency) return report(currency.error());
      auto money = Money::parse(discount.substr(0, discount.size() - 3), *currency);
      if (!money) return report(money.error());
      *r->mutable_discount() = wire::money_to_proto(*money);
    } else {
      r->set_points(points);
    }
    return call(c, req);
  }
  if (ret->parsed()) {
    auto* r = req.mutable_return_();
    r->set_pos_tx_id(tx);
    r->set_original_pos_tx_id(original_tx);
    r->set_original_till_id(original_till);
    for (const auto& spec : return_lines) {
      auto colon = spec.find(':');
      try {
        auto* l = r->add_lines();
        l->set_line_no(static_cast<uint32_t>(std::stoul(spec.substr(0, colon))));
        l->set_quantity_milli(colon == std::string::npos ? 1000
                                                         : std::stoll(spec.substr(colon + 1)));
      } catch (const std::exception&) {
        return report(
            {ErrorCode::kInvalidArgument, "--line: want LINE_NO:QUANTITY_MILLI, got " + spec});
      }
    }
    return call(c, req);
  }
  if (enroll->parsed()) {
    auto* e = req.mutable_enroll();
    set_identifier(who, e->add_identifiers());
    e->set_pos_tx_id(tx);
    e->set_display_name(name);
    e->mutable_consents()->set_terms(terms);
    e->mutable_consents()->set_marketing_email(marketing_email);
    e->mutable_consents()->set_marketing_sms(marketing_sms);
    e->set_birthday_month(bmonth);
    e->set_birthday_day(bday);
    return call(c, req);
  }
  if (status->parsed()) {
    req.mutable_get_agent_status();
    return call(c, req);
  }
  if (q_list->parsed()) {
    req.mutable_list_quarantine()->set_after_seq(q_after);
    req.mutable_list_quarantine()->set_limit(q_limit);
    return call(c, req);
  }
  if (q_resubmit->parsed() || q_drop->parsed()) {
    if (q_seqs.empty() && !q_all) {
      std::cerr << "accruectl: quarantine: give --seq N (repeatable) or --all\n";
      return 64;
    }
    auto* a = req.mutable_quarantine_action();
    a->set_action(q_drop->parsed() ? pb::QuarantineActionRequest::ACTION_DROP
                                   : pb::QuarantineActionRequest::ACTION_RESUBMIT);
    for (int64_t seq : q_seqs) a->add_seqs(seq);
    a->set_all(q_all);
    a->set_reason(q_reason);
    return call(c, req);
  }
  if (tx_status->parsed()) {
    req.mutable_get_transaction_status()->set_pos_tx_id(tx);
    req.mutable_get_transaction_status()->set_till_id(original_till);
    return call(c, req);
  }
  if (price->parsed()) {
    auto program = read_input(program_path);
    if (!program) return report(program.error());
    auto basket = read_input(price_basket);
    if (!basket) return report(basket.error());
    ZoneinfoSource zones;
    auto out =
        ctl::price_report({*program, *basket, tier, earned_today, balance, price_country}, zones);
    if (!out) return report(out.error());
    std::cout << *out;
    return 0;
  }
  if (validate_program->parsed()) {
    auto text = read_input(validate_path);
    if (!text) return report(text.error());
    auto p = wire::program_from_json(*text);
    if (!p) return report(p.error());
    std::cout << "ok: program " << p->program_id << " v" << p->version << ", " << p->rules.size()
              << " rules, " << p->tiers.ladder.size() << " tiers\n";
    return 0;
  }
  return 0;
}
