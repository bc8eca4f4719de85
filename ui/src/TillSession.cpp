#include "TillSession.h"

#include <QDateTime>
#include <QJsonArray>
#include <QRegularExpression>
#include <QUuid>
#include <algorithm>

#include "AgentConnection.h"

namespace accrue::till {

namespace {

constexpr int kValidateTimeoutMs = 2000;  // the agent may ask the cloud first (300 ms)
constexpr int kReadTimeoutMs = 1500;
constexpr int kWriteTimeoutMs = 3000;
constexpr int kRedeemTimeoutMs = 4000;  // an online redemption waits up to 2 s for the cloud
constexpr int kMaxAccrualAttempts = 300;
constexpr int kMaxRedeemAttempts = 4;
constexpr int kRememberedSales = 16;

QString entryName(Entry e) {
  switch (e) {
    case Entry::Scanned:
      return "ENTRY_MODE_SCANNED";
    case Entry::Qr:
      return "ENTRY_MODE_QR";
    case Entry::Keyed:
      break;
  }
  return "ENTRY_MODE_KEYED";
}

QString newTransactionId(const QString& prefix) {
  return prefix + QUuid::createUuid().toString(QUuid::WithoutBraces);
}

// The tier a profile or an accrual says her unconfirmed sales here reach (its name, else its id).
QString reachedTier(const QJsonObject& o) {
  const QString name = o.value("reached_tier_name").toString();
  return name.isEmpty() ? o.value("reached_tier_id").toString() : name;
}

// A refusal's parameter as the locale writes it: "1500" -> "1,500", "0.5" -> "0,5" in German.
QString localNumber(const QJsonObject& params, const char* name) {
  const QString v = params.value(name).toString();
  bool ok = false;
  if (const qlonglong n = v.toLongLong(&ok); ok) return QLocale().toString(n);
  if (const double d = v.toDouble(&ok); ok) return QLocale().toString(d, 'g', 12);
  return v;
}

// The plural form for a count the translation chooses by (a count beyond int picks "many").
int pluralOf(const QJsonObject& params, const char* name) {
  return int(std::clamp<qlonglong>(params.value(name).toString().toLongLong(), 0, 1'000'000'000));
}

// The till's words for a claim's refusals (reward.*, offline.claim_*); empty when unknown.
QString rewardRefusalText(const QString& id, const QJsonObject& p) {
  if (id == "reward.not_yet") return TillSession::tr("This reward cannot be claimed yet.");
  if (id == "reward.ended") return TillSession::tr("This reward can no longer be claimed.");
  if (id == "reward.tier") return TillSession::tr("This reward is for members of another tier.");
  if (id == "reward.segment") return TillSession::tr("This reward is not offered to this member.");
  if (id == "reward.member_limit") {
    return TillSession::tr("This reward can be claimed %n time(s) per member.", nullptr,
                           pluralOf(p, "limit"));
  }
  if (id == "reward.out_of_stock") return TillSession::tr("This reward is out of stock.");
  if (id == "reward.unknown") {
    return TillSession::tr("This reward is not in the programme this store runs.");
  }
  if (id == "reward.no_answer") {
    return TillSession::tr(
        "The loyalty service did not answer. Claim it again: nothing is "
        "claimed twice.");
  }
  if (id == "reward.abandoned") {
    return TillSession::tr(
        "This claim was given up when the loyalty service did not answer. If it was booked, "
        "the coupon is in her app; claim again to try anew.");
  }
  if (id == "offline.claim_not_allowed") {
    return TillSession::tr("This reward can be claimed only while the store is online.");
  }
  if (id == "offline.claim_limit") {
    return TillSession::tr("This store cannot issue more rewards until it is back online.");
  }
  if (id == "reward.member_unknown") {
    return TillSession::tr("No member with this card: there are no rewards to show.");
  }
  if (id == "reward.member_blocked") {
    return TillSession::tr("This member is blocked: rewards cannot be claimed.");
  }
  return {};
}

// The till's words for the agent's refusals (proto/README.md, "Refusals"); empty for an id this
// till does not know.
QString refusalText(const QString& id, const QJsonObject& p) {
  if (id == "points.insufficient") {
    return TillSession::tr("Not enough points: %1 available.", nullptr, pluralOf(p, "available"))
        .arg(localNumber(p, "available"));
  }
  if (id == "redeem.member_unknown")
    return TillSession::tr("No member with this card: nothing to redeem.");
  if (id == "redeem.member_blocked") {
    return TillSession::tr("This member is blocked: points cannot be redeemed.");
  }
  if (id == "redeem.below_minimum") {
    return TillSession::tr("Redeem at least %1 points.", nullptr, pluralOf(p, "min"))
        .arg(localNumber(p, "min"));
  }
  if (id == "redeem.above_maximum") {
    return TillSession::tr("Redeem at most %1 points at once.", nullptr, pluralOf(p, "max"))
        .arg(localNumber(p, "max"));
  }
  if (id == "redeem.off_step") {
    return TillSession::tr("Redeem in steps of %1 points.", nullptr, pluralOf(p, "step"))
        .arg(localNumber(p, "step"));
  }
  if (id == "redeem.no_rate") {
    return TillSession::tr("Points cannot be redeemed in %1.").arg(p.value("currency").toString());
  }
  if (id == "redeem.no_answer") {
    return TillSession::tr(
        "The loyalty service did not answer, and the store's offline rules do not allow "
        "this redemption. No points were redeemed.");
  }
  if (id == "offline.offline_disabled") {
    return TillSession::tr("Points cannot be redeemed while the store is offline.");
  }
  if (id == "offline.never_synced") {
    return TillSession::tr("Points cannot be redeemed offline: this store has not synced yet.");
  }
  if (id == "offline.sync_too_old") {
    return TillSession::tr(
        "Points cannot be redeemed offline: the store has been offline for more than "
        "%n hours.",
        nullptr, pluralOf(p, "hours"));
  }
  if (id == "offline.per_redemption_limit") {
    return TillSession::tr("While offline, at most %1 points can be redeemed at once.", nullptr,
                           pluralOf(p, "max"))
        .arg(localNumber(p, "max"));
  }
  if (id == "offline.customer_daily_limit") {
    return TillSession::tr("While offline, this member can redeem %1 more points today.", nullptr,
                           pluralOf(p, "left"))
        .arg(localNumber(p, "left"));
  }
  if (id == "offline.store_liability_limit") {
    return TillSession::tr(
        "The store's offline redemption limit is reached: try again when online.");
  }
  if (id == "sale.redemption_unknown") {
    return TillSession::tr("Redemption %1 is not on this till: it cannot pay for this sale.")
        .arg(p.value("pos_tx_id").toString());
  }
  if (id == "sale.redemption_other_member") {
    return TillSession::tr("Redemption %1 was made for another member.")
        .arg(p.value("pos_tx_id").toString());
  }
  if (id == "sale.redemption_used") {
    return TillSession::tr("Redemption %1 already paid for another sale.")
        .arg(p.value("pos_tx_id").toString());
  }
  if (id == "earn.member_blocked")
    return TillSession::tr("This member is blocked: no points can be earned.");
  if (id == "earn.no_rate") {
    return TillSession::tr("The programme gives no points for sales in %1.")
        .arg(p.value("currency").toString());
  }
  if (id == "enrol.terms_required") {
    return TillSession::tr("The customer has to accept the programme's terms.");
  }
  if (id == "return.more_than_left") {
    return TillSession::tr("Line %1: %2 returned, only %3 left to return.")
        .arg(p.value("line").toString(), localNumber(p, "quantity"), localNumber(p, "left"));
  }
  if (id == "return.refused") return TillSession::tr("This return cannot be made.");
  if (id.startsWith("reward.") || id.startsWith("offline.claim")) return rewardRefusalText(id, p);
  if (id == "coupon.malformed") {
    return TillSession::tr("This is not a coupon code; check it and try again.");
  }
  if (id == "coupon.unknown_key") {
    return TillSession::tr(
        "This coupon cannot be checked at this store yet; try again when online.");
  }
  if (id == "coupon.forged") return TillSession::tr("This coupon is not valid.");
  if (id == "coupon.expired") {
    const qint64 at = p.value("expires_at_ms").toString().toLongLong();
    if (at <= 0) return TillSession::tr("This coupon has expired.");
    return TillSession::tr("This coupon expired on %1.")
        .arg(QLocale().toString(QDateTime::fromMSecsSinceEpoch(at).date(), QLocale::ShortFormat));
  }
  if (id == "coupon.spent") {
    return TillSession::tr("This coupon has already been used or was cancelled.");
  }
  if (id == "coupon.used_here") {
    return TillSession::tr("This coupon has already been used in this store.");
  }
  if (id == "coupon.reward_unknown") {
    return TillSession::tr("This coupon's reward is not in the programme this store runs yet.");
  }
  if (id == "coupon.member_needed") {
    return TillSession::tr("This coupon belongs to a member: identify the member first.");
  }
  if (id == "coupon.other_member") return TillSession::tr("This coupon belongs to another member.");
  if (id == "coupon.member_blocked") {
    return TillSession::tr("This member is blocked: coupons cannot be used.");
  }
  if (id == "coupon.currency") {
    return TillSession::tr("This coupon cannot be used in %1.").arg(p.value("currency").toString());
  }
  if (id == "coupon.item_missing") {
    return TillSession::tr("The basket has none of the items this coupon makes free.");
  }
  if (id == "coupon.use_voided") {
    return TillSession::tr("This coupon was taken off the sale already.");
  }
  if (id == "offline.coupon_limit") {
    return TillSession::tr("This store cannot accept more coupons until it is back online.");
  }
  return {};
}

}  // namespace

qint64 RedeemOffer::discountFor(qint64 points) const {
  if (points <= 0 || perPoints <= 0 || valueMinor < 0) return -1;
  // floor(points * value / per) without overflowing: whole multiples of `per`, then the rest.
  qint64 whole = 0, rest = 0;
  if (qMulOverflow(points / perPoints, valueMinor, &whole)) return -1;
  if (qMulOverflow(points % perPoints, valueMinor, &rest)) return -1;
  qint64 out = 0;
  if (qAddOverflow(whole, rest / perPoints, &out)) return -1;
  return out;
}

QString formatMoney(qint64 minor, const QString& currency, int exponent, const QLocale& locale) {
  exponent = std::clamp(exponent, 0, 4);
  qint64 scale = 1;
  for (int i = 0; i < exponent; ++i) scale *= 10;
  // Display only: the integer minor units stay the amounts; a double holds every amount a till
  // shows (below 2^53 minor units) exactly enough to print.
  return locale.toCurrencyString(double(minor) / double(scale), currency, exponent);
}

bool looksLikeCoupon(const QString& text) {
  QString code = text.trimmed().toUpper();
  code.remove(QRegularExpression("[\\s\\-]"));
  // A version 1 code holds at least 110 bytes (176 characters); its first byte is 0x01.
  static const QRegularExpression base32("^[0O]4[0-9A-Z]{100,}$");  // O, I, L read as 0, 1, 1
  return base32.match(code).hasMatch();
}

Identifier guessIdentifier(const QString& text, Entry entry) {
  const QString t = text.trimmed();
  QString digits = t;
  digits.remove(QRegularExpression("[\\s\\-().]"));
  static const QRegularExpression allDigits("^\\+?[0-9]+$");
  Identifier id;
  id.value = t;
  id.entry = entry;
  if (t.contains('@')) {
    id.kind = "IDENTIFIER_KIND_EMAIL";
  } else if (allDigits.match(digits).hasMatch()) {
    // Loyalty cards carry 12 digits or more; anything shorter, or with a +, is a phone number.
    id.kind = digits.startsWith('+') || digits.size() < 12 ? "IDENTIFIER_KIND_PHONE"
                                                           : "IDENTIFIER_KIND_CARD";
  } else {
    id.kind = "IDENTIFIER_KIND_QR_TOKEN";
  }
  return id;
}

QString errorMessage(const QJsonObject& response) {
  if (!response.contains("error")) return {};
  const QJsonObject e = response.value("error").toObject();
  if (const QString own =
          refusalText(e.value("message_id").toString(), e.value("params").toObject());
      !own.isEmpty()) {
    return own;
  }
  const QString m = e.value("message").toString();
  return m.isEmpty() ? TillSession::tr("The loyalty service refused the request.") : m;
}

QString TillSession::money(qint64 minor, const QString& currency) const {
  const bool store =
      !m_agent.currency.isEmpty() && currency == m_agent.currency && m_agent.currencyExponent >= 0;
  return formatMoney(minor, currency, store ? m_agent.currencyExponent : 2);
}

bool isRetryable(const QJsonObject& response) {
  return response.value("error").toObject().value("retryable").toBool();
}

TillSession::TillSession(AgentConnection* connection, QObject* parent)
    : QObject(parent), m_connection(connection) {
  m_previewDebounce.setSingleShot(true);
  m_previewDebounce.setInterval(80);
  connect(&m_previewDebounce, &QTimer::timeout, this, &TillSession::requestPreview);
  m_statusPoll.setInterval(5000);
  connect(&m_statusPoll, &QTimer::timeout, this, &TillSession::refreshAgentStatus);
  m_statusPoll.start();
  connect(m_connection, &AgentConnection::connectedChanged, this, [this](bool on) {
    m_agent.connected = on;
    if (on) {
      refreshAgentStatus();
    } else {
      m_agent.online = false;
    }
    emit agentChanged();
  });
}

QJsonObject TillSession::request(const QString& op, const QJsonObject& body) const {
  return QJsonObject{{"till_id", m_tillId}, {op, body}};
}

QJsonObject TillSession::identifierJson(const Identifier& id) const {
  return QJsonObject{{"kind", id.kind}, {"value", id.value}, {"entry_mode", entryName(id.entry)}};
}

QJsonObject TillSession::basketJson(const Basket& basket) const {
  QJsonArray lines;
  for (const auto& l : basket.lines) {
    lines.append(QJsonObject{{"line_no", l.lineNo},
                             {"sku", l.sku},
                             {"categories", QJsonArray::fromStringList(l.categories)},
                             {"quantity_milli", QString::number(l.quantityMilli)},
                             {"amount_minor", QString::number(l.amountMinor)}});
  }
  return QJsonObject{{"currency", basket.currency},
                     {"lines", lines},
                     {"occurred_at_ms", QString::number(QDateTime::currentMSecsSinceEpoch())}};
}

void TillSession::setState(State state) {
  if (m_state == state) return;
  m_state = state;
  emit stateChanged(state);
}

void TillSession::setBusy(bool on) {
  const bool was = busy();
  m_busy = qMax(0, m_busy + (on ? 1 : -1));
  if (was != busy()) emit busyChanged(busy());
}

void TillSession::fail(const QString& message) {
  m_lastError = message;
  emit errorOccurred(message);
}

void TillSession::identify(const Identifier& identifier) {
  if (identifier.value.trimmed().isEmpty()) return;
  const quint64 epoch = ++m_epoch;
  m_identifier = identifier;
  m_member = Member{};
  m_lastError.clear();
  if (!m_rewards.isEmpty()) {
    m_rewards.clear();
    emit rewardsChanged();
  }
  setState(State::Identifying);
  emit memberChanged();
  setBusy(true);
  m_connection->send(request("validate", {{"identifier", identifierJson(identifier)}}),
                     kValidateTimeoutMs, [this, epoch](const QJsonObject& r) {
                       setBusy(false);
                       if (epoch != m_epoch) return;
                       if (const QString e = errorMessage(r); !e.isEmpty()) {
                         setState(State::NoCustomer);
                         return fail(e);
                       }
                       applyValidate(r.value("validate").toObject());
                     });
}

void TillSession::applyValidate(const QJsonObject& v) {
  const QString status = v.value("status").toString();
  m_member.customerId = v.value("customer_id").toString();
  m_member.displayName = v.value("display_name").toString();
  m_member.tierId = v.value("tier_id").toString();
  m_member.tierName = v.value("tier_name").toString();
  m_member.reachedTierName.clear();  // the profile says again
  m_member.availablePoints = int64Of(v.value("available_points"));
  m_member.pendingPoints = int64Of(v.value("pending_points"));
  m_member.provisional = status == "MEMBER_STATUS_PROVISIONAL";
  if (v.value("offline").toBool() != !m_agent.online) {
    m_agent.online = !v.value("offline").toBool();
    emit agentChanged();
  }
  emit memberChanged();
  if (status == "MEMBER_STATUS_BLOCKED") {
    setState(State::Blocked);
  } else if (status == "MEMBER_STATUS_ACTIVE" || status == "MEMBER_STATUS_PROVISIONAL") {
    setState(State::Member);
    emit identified(m_member.customerId, m_member.displayName);
    requestProfile();
    requestRewards();
  } else {
    setState(State::Unknown);
  }
  requestPreview();
}

void TillSession::requestProfile() {
  const quint64 epoch = m_epoch;
  m_connection->send(request("get_profile", {{"identifier", identifierJson(m_identifier)}}),
                     kReadTimeoutMs, [this, epoch](const QJsonObject& r) {
                       if (epoch != m_epoch || !r.contains("profile")) return;
                       const QJsonObject p = r.value("profile").toObject();
                       m_member.expiringPoints = int64Of(p.value("expiring_points"));
                       m_member.expiringAtMs = int64Of(p.value("expiring_at_ms"));
                       m_member.reachedTierName = reachedTier(p);
                       const QJsonObject o = p.value("redeemable").toObject();
                       RedeemOffer offer;
                       offer.maxPoints = int64Of(o.value("max_points"));
                       const QJsonObject d = o.value("max_discount").toObject();
                       offer.maxDiscountMinor = int64Of(d.value("minor_units"));
                       offer.currency = d.value("currency").toString();
                       offer.minPoints = int64Of(o.value("min_points"));
                       offer.stepPoints = int64Of(o.value("step_points"));
                       offer.valueMinor = int64Of(o.value("value_minor_units"));
                       offer.perPoints = int64Of(o.value("per_points"));
                       m_member.redeemable = offer;
                       emit memberChanged();
                     });
}

void TillSession::requestRewards() {
  const quint64 epoch = m_epoch;
  m_connection->send(
      request("list_rewards", {{"identifier", identifierJson(m_identifier)}}), kReadTimeoutMs,
      [this, epoch](const QJsonObject& r) {
        if (epoch != m_epoch || !r.contains("rewards")) return;  // an older agent: none shown
        m_rewards.clear();
        for (const auto& v : r.value("rewards").toObject().value("rewards").toArray()) {
          const QJsonObject o = v.toObject();
          RewardOffer offer;
          offer.rewardId = o.value("reward_id").toString();
          offer.name = o.value("name").toString();
          offer.costPoints = int64Of(o.value("cost_points"));
          offer.claimable = o.value("claimable").toBool();
          if (!offer.claimable) {
            offer.whyNot =
                refusalText(o.value("message_id").toString(), o.value("params").toObject());
            if (offer.whyNot.isEmpty()) offer.whyNot = o.value("message").toString();
          }
          m_rewards.append(offer);
        }
        emit rewardsChanged();
      });
}

void TillSession::setBasket(const Basket& basket) {
  m_basket = basket;
  ++m_previewEpoch;
  m_previewDebounce.start();
}

void TillSession::clearBasket() {
  releaseCoupons();
  m_basket = Basket{};
  m_madeSaleId.clear();
  m_couponCount = 0;
  m_claimCount = 0;
  ++m_previewEpoch;
  m_previewDebounce.stop();
  m_redeemCount = 0;
  if (m_previewPoints != -1) {
    m_previewPoints = -1;
    emit previewChanged(-1);
  }
}

void TillSession::requestPreview() {
  if (m_basket.lines.isEmpty() || m_state == State::Blocked) {
    if (m_previewPoints != -1) {
      m_previewPoints = -1;
      emit previewChanged(-1);
    }
    return;
  }
  const quint64 epoch = m_epoch, basketEpoch = m_previewEpoch;
  QJsonObject body{{"basket", basketJson(m_basket)}};
  if (m_state == State::Member) body.insert("identifier", identifierJson(m_identifier));
  m_connection->send(request("preview", body), kReadTimeoutMs,
                     [this, epoch, basketEpoch](const QJsonObject& r) {
                       if (epoch != m_epoch || basketEpoch != m_previewEpoch) return;
                       if (!r.contains("preview")) return;  // the panel keeps "—"
                       m_previewPoints = int64Of(r.value("preview").toObject().value("points"));
                       emit previewChanged(m_previewPoints);
                     });
}

QString TillSession::saleId() {
  if (!m_basket.saleId.isEmpty()) return m_basket.saleId;
  if (m_madeSaleId.isEmpty()) m_madeSaleId = newTransactionId("sale-");
  return m_madeSaleId;
}

bool TillSession::completeSale() {
  // Paid: the coupons on it stay used, whether or not a member earns points on it.
  QStringList couponTxs;
  for (const auto& c : m_coupons) couponTxs.append(c.posTxId);
  if (!m_coupons.isEmpty()) {
    m_coupons.clear();
    emit couponsChanged();
  }
  if (m_state != State::Member || m_basket.lines.isEmpty()) return false;
  Accrual a;
  a.saleId = saleId();
  // Paying the same sale twice sends the first request again, byte for byte (its time
  // included), so the agent answers with what it recorded instead of a conflict.
  auto same = std::find_if(m_completed.cbegin(), m_completed.cend(),
                           [&](const auto& c) { return c.first == a.saleId; });
  if (same != m_completed.cend()) {
    a.request = same->second;
  } else {
    QJsonObject accrue{{"identifier", identifierJson(m_identifier)},
                       {"pos_tx_id", a.saleId},
                       {"basket", basketJson(m_basket)}};
    // A points-multiplier coupon counts for the sale that names its use (discounts change no
    // points, and the agent takes them too).
    if (!couponTxs.isEmpty())
      accrue.insert("coupon_pos_tx_ids", QJsonArray::fromStringList(couponTxs));
    a.request = request("accrue", accrue);
    m_completed.append({a.saleId, a.request});
    if (m_completed.size() > kRememberedSales) m_completed.removeFirst();
  }
  m_accruals.append(a);
  sendAccrual(int(m_accruals.size()) - 1);
  return true;
}

void TillSession::sendAccrual(int index) {
  Accrual& a = m_accruals[index];
  ++a.attempts;
  const QString saleId = a.saleId;
  const quint64 epoch = m_epoch;
  m_connection->send(a.request, kWriteTimeoutMs, [this, saleId, epoch](const QJsonObject& r) {
    int i = 0;
    while (i < m_accruals.size() && m_accruals[i].saleId != saleId) ++i;
    if (i == m_accruals.size()) return;
    if (r.contains("accrue")) {
      m_accruals.removeAt(i);
      const QJsonObject result = r.value("accrue").toObject();
      if (epoch == m_epoch && m_state == State::Member) {
        m_member.availablePoints = int64Of(result.value("available_points"));
        m_member.pendingPoints = int64Of(result.value("pending_points"));
        if (const QString reached = reachedTier(result); !reached.isEmpty()) {
          m_member.reachedTierName = reached;
        }
        emit memberChanged();
      }
      emit accrued(saleId, int64Of(result.value("points_earned")));
      return;
    }
    const QString e = errorMessage(r);
    if (isRetryable(r) && m_accruals[i].attempts < kMaxAccrualAttempts) {
      // The same request again: the agent records a sale once and repeats its answer.
      QTimer::singleShot(m_retryDelayMs, this, [this, saleId] {
        for (int j = 0; j < m_accruals.size(); ++j) {
          if (m_accruals[j].saleId == saleId) return sendAccrual(j);
        }
      });
      return;
    }
    m_accruals.removeAt(i);
    emit accrueFailed(saleId, e);
    fail(e);
  });
}

void TillSession::redeemPoints(qint64 points) {
  if (m_state != State::Member) return;
  if (points <= 0) {
    emit redeemRefused(tr("Enter the number of points to redeem."));
    return;
  }
  const QString saleId = this->saleId();
  const QJsonObject req =
      request("redeem", {{"identifier", identifierJson(m_identifier)},
                         {"pos_tx_id", saleId + "/redeem-" + QString::number(++m_redeemCount)},
                         {"points", QString::number(points)}});
  setBusy(true);
  sendRedeem(req, saleId, 1);
}

void TillSession::sendRedeem(const QJsonObject& req, const QString& saleId, int attempt) {
  const quint64 epoch = m_epoch;
  m_connection->send(req, kRedeemTimeoutMs,
                     [this, req, saleId, attempt, epoch](const QJsonObject& r) {
                       if (r.contains("redeem")) {
                         setBusy(false);
                         const QJsonObject d = r.value("redeem").toObject();
                         if (epoch == m_epoch && m_state == State::Member) {
                           m_member.availablePoints = int64Of(d.value("available_points"));
                           emit memberChanged();
                           requestProfile();  // what she can redeem next
                         }
                         // Emitted even when the screen moved on: the points are spent, the sale
                         // owes the discount.
                         const QJsonObject discount = d.value("discount").toObject();
                         emit redeemed(saleId, int64Of(d.value("points_redeemed")),
                                       int64Of(discount.value("minor_units")),
                                       discount.value("currency").toString());
                         return;
                       }
                       if (isRetryable(r) && attempt < kMaxRedeemAttempts) {
                         // Same transaction id: if the first attempt was decided, this one gets its
                         // answer.
                         QTimer::singleShot(m_retryDelayMs, this, [this, req, saleId, attempt] {
                           sendRedeem(req, saleId, attempt + 1);
                         });
                         return;
                       }
                       setBusy(false);
                       const QString e = errorMessage(r);
                       m_lastError = e;
                       emit redeemRefused(e);
                     });
}

void TillSession::claimReward(const QString& rewardId) {
  if (m_state != State::Member) {
    emit claimRefused(tr("Identify the member first: a reward is claimed for her."));
    return;
  }
  // Its own transaction id, kept for its retries: a claim asked again is never booked twice.
  const QString tx = saleId() + "/claim-" + QString::number(++m_claimCount);
  setBusy(true);
  sendClaim(request("claim_reward", {{"pos_tx_id", tx},
                                     {"identifier", identifierJson(m_identifier)},
                                     {"reward_id", rewardId}}),
            1);
}

void TillSession::sendClaim(const QJsonObject& req, int attempt) {
  const quint64 epoch = m_epoch;
  m_connection->send(req, kRedeemTimeoutMs, [this, req, attempt, epoch](const QJsonObject& r) {
    if (r.contains("claim_reward")) {
      setBusy(false);
      const QJsonObject c = r.value("claim_reward").toObject();
      ClaimedReward claimed;
      claimed.rewardId = c.value("reward_id").toString();
      claimed.rewardName = c.value("reward_name").toString();
      claimed.couponId = c.value("coupon_id").toString();
      claimed.code = c.value("code").toString();
      claimed.costPoints = int64Of(c.value("cost_points"));
      claimed.gift = c.value("gift").toString();
      claimed.offline = c.value("offline").toBool();
      const bool same = epoch == m_epoch && m_state == State::Member;
      if (same) {
        m_member.availablePoints = int64Of(c.value("available_points"));
        emit memberChanged();
        requestProfile();
        requestRewards();
      }
      // Emitted even when the screen moved on: she has her reward.
      emit rewardClaimed(claimed);
      // Claimed at the till to be used now: on the sale in progress (a gift is handed over).
      if (same && !claimed.code.isEmpty() && claimed.gift.isEmpty() && !m_basket.lines.isEmpty()) {
        applyCoupon(claimed.code);
      }
      return;
    }
    if (isRetryable(r) && attempt < kMaxRedeemAttempts) {
      // Same transaction id: the agent asks the cloud about the same claim.
      QTimer::singleShot(m_retryDelayMs, this,
                         [this, req, attempt] { sendClaim(req, attempt + 1); });
      return;
    }
    setBusy(false);
    const QString e = errorMessage(r);
    m_lastError = e;
    emit claimRefused(e);
  });
}

void TillSession::applyCoupon(const QString& code) {
  const QString trimmed = code.trimmed();
  if (trimmed.isEmpty()) {
    emit couponRefused(tr("Scan or type the coupon's code."));
    return;
  }
  if (m_basket.lines.isEmpty()) {
    emit couponRefused(tr("Scan the items first: a coupon applies to a basket."));
    return;
  }
  if (m_state == State::Blocked) {
    emit couponRefused(tr("This member is blocked: coupons cannot be used."));
    return;
  }
  const QString sale = saleId();
  QJsonObject body{{"pos_tx_id", sale + "/coupon-" + QString::number(++m_couponCount)},
                   {"code", trimmed},
                   {"basket", basketJson(m_basket)}};
  // A member's coupon needs her at the till; a campaign's code needs nobody.
  if (m_state == State::Member) body.insert("identifier", identifierJson(m_identifier));
  setBusy(true);
  sendApplyCoupon(request("apply_coupon", body), sale, 1);
}

void TillSession::sendApplyCoupon(const QJsonObject& req, const QString& sale, int attempt) {
  m_connection->send(req, kRedeemTimeoutMs, [this, req, sale, attempt](const QJsonObject& r) {
    if (r.contains("apply_coupon")) {
      setBusy(false);
      const QJsonObject a = r.value("apply_coupon").toObject();
      const QJsonObject c = a.value("coupon").toObject();
      AppliedCoupon applied;
      applied.posTxId = req.value("apply_coupon").toObject().value("pos_tx_id").toString();
      applied.couponId = c.value("coupon_id").toString();
      applied.rewardName = c.value("reward_name").toString();
      const QJsonObject d = c.value("discount").toObject();
      applied.discountMinor = int64Of(d.value("minor_units"));
      applied.currency = d.value("currency").toString();
      applied.freeLineNo = c.value("free_line_no").toInt();
      applied.pointsMultiplierBp = int64Of(c.value("points_multiplier_bp"));
      applied.gift = c.value("gift").toString();
      applied.offline = a.value("offline").toBool();
      // The coupon is used whatever the screen shows now: if the sale moved on, give it back.
      const QString current = m_basket.saleId.isEmpty() ? m_madeSaleId : m_basket.saleId;
      if (sale != current) return sendVoidCoupon(applied, sale, 1);
      m_coupons.append(applied);
      emit couponsChanged();
      emit couponApplied(sale, applied);
      return;
    }
    if (isRetryable(r) && attempt < kMaxRedeemAttempts) {
      // Same transaction id: an apply the agent decided answers with its result.
      QTimer::singleShot(m_retryDelayMs, this,
                         [this, req, sale, attempt] { sendApplyCoupon(req, sale, attempt + 1); });
      return;
    }
    setBusy(false);
    QString e = errorMessage(r);
    const QJsonObject err = r.value("error").toObject();
    if (err.value("message_id").toString() == "coupon.basket_below_minimum") {
      const QJsonObject p = err.value("params").toObject();
      e = tr("This coupon needs a basket of at least %1.")
              .arg(money(p.value("min").toString().toLongLong(), p.value("currency").toString()));
    }
    m_lastError = e;
    emit couponRefused(e);
  });
}

void TillSession::removeCoupon(const QString& posTxId) {
  auto it = std::find_if(m_coupons.begin(), m_coupons.end(),
                         [&](const AppliedCoupon& c) { return c.posTxId == posTxId; });
  if (it == m_coupons.end()) return;
  const AppliedCoupon coupon = *it;
  m_coupons.erase(it);
  emit couponsChanged();
  sendVoidCoupon(coupon, saleId(), 1);
}

void TillSession::sendVoidCoupon(const AppliedCoupon& coupon, const QString& sale, int attempt) {
  const QJsonObject req = request("void_coupon", {{"pos_tx_id", coupon.posTxId + "/void"},
                                                  {"applied_pos_tx_id", coupon.posTxId}});
  m_connection->send(req, kWriteTimeoutMs, [this, coupon, sale, attempt](const QJsonObject& r) {
    const QString id = r.value("error").toObject().value("message_id").toString();
    if (r.contains("void_coupon") || id == "coupon.use_voided") {
      emit couponRemoved(sale, coupon);
      return;
    }
    // Idempotent by the void's own id: retried while the agent cannot be reached, so that a
    // coupon is not left used by a sale that did not take it.
    if (isRetryable(r) && attempt < kMaxAccrualAttempts) {
      QTimer::singleShot(m_retryDelayMs, this, [this, coupon, sale, attempt] {
        sendVoidCoupon(coupon, sale, attempt + 1);
      });
      return;
    }
    fail(errorMessage(r));
  });
}

void TillSession::releaseCoupons() {
  const QList<AppliedCoupon> left = m_coupons;
  for (const auto& c : left) removeCoupon(c.posTxId);
}

void TillSession::enroll(const EnrollForm& form) {
  if (!form.termsAccepted) {
    emit enrollRefused(tr("The customer has to accept the programme's terms."));
    return;
  }
  QJsonArray identifiers;
  QList<Identifier> ids;
  auto add = [&](const QString& value, const QString& kind) {
    if (value.trimmed().isEmpty()) return;
    Identifier id{kind, value.trimmed(), Entry::Keyed};
    ids.append(id);
    identifiers.append(identifierJson(id));
  };
  add(form.card, "IDENTIFIER_KIND_CARD");
  add(form.phone, "IDENTIFIER_KIND_PHONE");
  add(form.email, "IDENTIFIER_KIND_EMAIL");
  if (ids.isEmpty()) {
    emit enrollRefused(tr("Enter a card number, a phone number or an e-mail address."));
    return;
  }
  const QJsonObject req =
      request("enroll", {{"pos_tx_id", newTransactionId("enroll-")},
                         {"identifiers", identifiers},
                         {"display_name", form.displayName.trimmed()},
                         {"consents", QJsonObject{{"terms", true},
                                                  {"marketing_email", form.marketingEmail},
                                                  {"marketing_sms", form.marketingSms}}}});
  setBusy(true);
  const Identifier first = ids.first();
  m_connection->send(req, kWriteTimeoutMs, [this, first](const QJsonObject& r) {
    setBusy(false);
    if (!r.contains("enroll")) {
      const QString e = errorMessage(r);
      m_lastError = e;
      emit enrollRefused(e);
      return;
    }
    const QJsonObject e = r.value("enroll").toObject();
    emit enrolled(e.value("customer_id").toString(), e.value("provisional").toBool(),
                  int64Of(e.value("bonus_points")));
    identify(first);  // show the new member
  });
}

void TillSession::returnItems(const QString& returnId, const QString& originalSaleId,
                              const QList<ReturnLine>& lines) {
  QJsonArray items;
  for (const auto& l : lines) {
    items.append(
        QJsonObject{{"line_no", l.lineNo}, {"quantity_milli", QString::number(l.quantityMilli)}});
  }
  const QJsonObject req =
      request("return_",
              {{"pos_tx_id", returnId}, {"original_pos_tx_id", originalSaleId}, {"lines", items}});
  setBusy(true);
  m_connection->send(req, kWriteTimeoutMs, [this, returnId](const QJsonObject& r) {
    setBusy(false);
    const QJsonValue result = r.contains("return_") ? r.value("return_") : r.value("return");
    if (!result.isObject()) {
      const QString e = errorMessage(r);
      m_lastError = e;
      emit returnRefused(e);
      return;
    }
    emit returned(returnId, int64Of(result.toObject().value("points_reversed")));
  });
}

void TillSession::clear() {
  ++m_epoch;
  m_identifier = Identifier{};
  m_member = Member{};
  if (!m_rewards.isEmpty()) {
    m_rewards.clear();
    emit rewardsChanged();
  }
  m_lastError.clear();
  clearBasket();
  setState(State::NoCustomer);
  emit memberChanged();
  emit cleared();
}

void TillSession::refreshAgentStatus() {
  if (!m_connection->isConnected()) return;
  m_connection->send(request("get_agent_status", QJsonObject{}), kReadTimeoutMs,
                     [this](const QJsonObject& r) {
                       if (!r.contains("agent_status")) return;
                       const QJsonObject s = r.value("agent_status").toObject();
                       m_agent.online = s.value("online").toBool();
                       m_agent.lastSyncMs = int64Of(s.value("last_sync_ms"));
                       m_agent.queuedEvents = quint64(int64Of(s.value("outbox_depth")));
                       if (const QString c = s.value("currency").toString(); !c.isEmpty()) {
                         m_agent.currency = c;
                         m_agent.currencyExponent = s.value("currency_exponent").toInt();
                       }
                       emit agentChanged();
                     });
}

}  // namespace accrue::till
