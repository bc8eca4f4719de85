// The till's loyalty session, without widgets: who the customer is, what the basket would earn,
// and the actions on it (accrue at payment, redeem, enroll, return). The panel only shows it and
// forwards the cashier's input, so every behaviour here is tested without a screen.
//
// Answers that arrive after the session moved on (the cashier cleared the customer, or
// identified another) are dropped: each request carries the session's epoch. Accruals are the
// exception: a paid sale's points are owed whatever the screen shows, so they are retried with
// the same sale id (the agent answers a retry with the recorded result) for as long as the agent
// cannot be reached, up to 300 attempts a second apart; then accrueFailed.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QLocale>
#include <QObject>
#include <QPair>
#include <QTimer>

#include "accrue/till/TillLoyaltyInterface.h"

namespace accrue::till {

class AgentConnection;

// How the identifier reached the till.
enum class Entry { Scanned, Keyed, Qr };

struct Identifier {
  QString kind;   // "IDENTIFIER_KIND_CARD", "_PHONE", "_EMAIL", "_QR_TOKEN"
  QString value;  // clear text: kept in memory for the session only, never logged
  Entry entry = Entry::Keyed;
};

// What the cashier typed or scanned, read as a card, a phone number, an e-mail or a QR token.
Identifier guessIdentifier(const QString& text, Entry entry);

// The largest redemption the agent offers her now (Profile.redeemable), and its rate, so that
// the redeem dialog shows the discount of whatever amount the cashier picks.
struct RedeemOffer {
  qint64 maxPoints = 0;  // 0: nothing to redeem
  qint64 maxDiscountMinor = 0;
  QString currency;
  qint64 minPoints = 0;
  qint64 stepPoints = 0;  // 0: any amount
  qint64 valueMinor = 0;  // a discount of floor(points * valueMinor / perPoints)
  qint64 perPoints = 0;
  // The discount `points` give, in minor units of `currency`; -1 when it cannot be said.
  qint64 discountFor(qint64 points) const;
};

struct Member {
  QString customerId;
  QString displayName;
  QString tierId;
  QString tierName;
  // A higher tier her sales here reach before the cloud confirms it ("Gold reached, confirmed
  // when online"); empty otherwise.
  QString reachedTierName;
  qint64 availablePoints = 0;
  qint64 pendingPoints = 0;
  bool provisional = false;
  qint64 expiringPoints = 0;
  qint64 expiringAtMs = 0;
  RedeemOffer redeemable;
};

// A coupon applied to the sale in progress: what the agent answered (ApplyCouponResult).
struct AppliedCoupon {
  QString posTxId;  // of the apply, on this till: what a void or the sale's accrual names
  QString couponId;
  QString rewardName;
  qint64 discountMinor = 0;  // off the basket, in `currency`; 0 for a gift or a multiplier
  QString currency;
  int freeLineNo = 0;             // a free item: the line one unit of which is free
  qint64 pointsMultiplierBp = 0;  // 20000: the sale's points doubled
  QString gift;                   // what the cashier hands over
  bool offline = false;           // decided by the store; the cloud reconciles on upload
};

// A reward of the catalogue as it stands for the member (the agent's RewardList): what it costs,
// and why she may not claim it now (empty when she may, as far as the store can tell).
struct RewardOffer {
  QString rewardId;
  QString name;
  qint64 costPoints = 0;
  bool claimable = false;
  QString whyNot;  // in the till's language
};

// A reward claimed for the member at the till (the agent's ClaimRewardResult).
struct ClaimedReward {
  QString rewardId;
  QString rewardName;
  QString couponId;
  QString code;  // the coupon's code; empty when the store claimed it offline (her app gets it)
  qint64 costPoints = 0;
  QString gift;  // a gift: what the cashier hands over now
  bool offline = false;
};

// Whether scanned or typed text is a coupon's code rather than a customer's identifier: a long
// run of Crockford base32 (dashes and spaces aside) that starts as every version 1 code does.
bool looksLikeCoupon(const QString& text);

struct EnrollForm {
  QString displayName;
  QString phone;
  QString email;
  QString card;
  bool termsAccepted = false;
  bool marketingEmail = false;
  bool marketingSms = false;
};

struct AgentState {
  bool connected = false;
  bool online = false;        // the agent's last round trip to the cloud succeeded
  qint64 lastSyncMs = 0;      // 0 = never
  quint64 queuedEvents = 0;   // waiting for upload
  QString currency;           // the store's, with its ISO 4217 exponent (JPY 0, EUR 2, KWD 3)
  int currencyExponent = -1;  // -1: not known yet
};

// An amount in minor units shown in the locale's format with the currency's own exponent:
// 123456 JPY (0) "¥123,456", 1250 EUR (2) "€12.50", 1250 KWD (3) "KWD 1.250" in English.
QString formatMoney(qint64 minor, const QString& currency, int exponent,
                    const QLocale& locale = QLocale());

class TillSession : public QObject {
  Q_OBJECT

 public:
  enum class State { NoCustomer, Identifying, Member, Unknown, Blocked };
  Q_ENUM(State)

  explicit TillSession(AgentConnection* connection, QObject* parent = nullptr);

  void setTillId(const QString& tillId) { m_tillId = tillId; }
  QString tillId() const { return m_tillId; }

  State state() const { return m_state; }
  const Member& member() const { return m_member; }
  const AgentState& agent() const { return m_agent; }
  const Basket& basket() const { return m_basket; }
  // Points the basket would earn (for the member, or without tier bonus); -1 = not known.
  qint64 previewPoints() const { return m_previewPoints; }
  // The message of the last failure the cashier should see (empty when none).
  QString lastError() const { return m_lastError; }
  bool busy() const { return m_busy > 0; }
  // A Money of the agent's in the till's locale (the store's currency's exponent; 2 for another
  // currency, or before the agent said).
  QString money(qint64 minor, const QString& currency) const;
  int pendingAccruals() const { return int(m_accruals.size()); }
  // The identified member's rewards (asked for when she is identified), by reward id.
  const QList<RewardOffer>& rewards() const { return m_rewards; }
  // The coupons applied to the sale in progress, in the order applied.
  const QList<AppliedCoupon>& coupons() const { return m_coupons; }

  // Timings, settable by tests.
  void setAgentPollInterval(int ms) { m_statusPoll.setInterval(ms); }
  void setRetryDelay(int ms) { m_retryDelayMs = ms; }

 public slots:
  void identify(const Identifier& identifier);
  void setBasket(const accrue::till::Basket& basket);
  void clearBasket();
  // Accrues the basket's points for the member (see the class comment). Returns false (and
  // does nothing) without a member or without basket lines.
  bool completeSale();
  void redeemPoints(qint64 points);
  // Uses a coupon on the sale in progress (its basket; the member's, when one is identified):
  // couponApplied, or couponRefused with the reason. A coupon stays used when the sale is paid
  // (completeSale); a sale cleared without being paid gives its coupons back (voided).
  void applyCoupon(const QString& code);
  // Claims a reward of her catalogue (rewards()) for the identified member: rewardClaimed, or
  // claimRefused with the reason. A coupon the claim issues is applied to the sale in progress
  // when there is one (applyCoupon); a gift is handed over.
  void claimReward(const QString& rewardId);
  // Takes an applied coupon off the sale (the agent voids its use): couponRemoved.
  void removeCoupon(const QString& posTxId);
  void enroll(const EnrollForm& form);
  void returnItems(const QString& returnId, const QString& originalSaleId,
                   const QList<accrue::till::ReturnLine>& lines);
  // Forgets the customer and the basket.
  void clear();
  void refreshAgentStatus();

 signals:
  void stateChanged(accrue::till::TillSession::State state);
  void memberChanged();
  void previewChanged(qint64 points);
  void agentChanged();
  void busyChanged(bool busy);
  void identified(const QString& customerId, const QString& displayName);
  void cleared();
  void accrued(const QString& saleId, qint64 points);
  void accrueFailed(const QString& saleId, const QString& message);
  void redeemed(const QString& saleId, qint64 points, qint64 discountMinor,
                const QString& currency);
  void redeemRefused(const QString& message);
  void enrolled(const QString& customerId, bool provisional, qint64 bonusPoints);
  void enrollRefused(const QString& message);
  void couponApplied(const QString& saleId, const accrue::till::AppliedCoupon& coupon);
  void couponRefused(const QString& message);
  void couponRemoved(const QString& saleId, const accrue::till::AppliedCoupon& coupon);
  void couponsChanged();
  void rewardsChanged();
  void rewardClaimed(const accrue::till::ClaimedReward& claim);
  void claimRefused(const QString& message);
  void returned(const QString& returnId, qint64 points);
  void returnRefused(const QString& message);
  // A failure the cashier should see (also in lastError()).
  void errorOccurred(const QString& message);

 private:
  struct Accrual {
    QJsonObject request;
    QString saleId;
    int attempts = 0;
  };
  QJsonObject request(const QString& op, const QJsonObject& body) const;
  QJsonObject identifierJson(const Identifier& id) const;
  QJsonObject basketJson(const Basket& basket) const;
  void setState(State state);
  void setBusy(bool on);
  void fail(const QString& message);
  void applyValidate(const QJsonObject& v);
  void requestProfile();
  void requestPreview();
  void requestRewards();
  void sendAccrual(int index);
  void sendRedeem(const QJsonObject& req, const QString& saleId, int attempt);
  void sendApplyCoupon(const QJsonObject& req, const QString& saleId, int attempt);
  void sendClaim(const QJsonObject& req, int attempt);
  // The sale in progress's id: the basket's, else one made up now and kept for the sale.
  QString saleId();
  void sendVoidCoupon(const AppliedCoupon& coupon, const QString& saleId, int attempt);
  // Voids the coupons of a sale that ends without being paid (nothing to wait for).
  void releaseCoupons();

  AgentConnection* m_connection;
  QString m_tillId = "till";
  State m_state = State::NoCustomer;
  Identifier m_identifier;
  Member m_member;
  AgentState m_agent;
  Basket m_basket;
  qint64 m_previewPoints = -1;
  QString m_lastError;
  int m_busy = 0;
  quint64 m_epoch = 0;             // bumped by identify() and clear(): late answers are dropped
  quint64 m_previewEpoch = 0;      // bumped by every basket change
  int m_redeemCount = 0;           // redemptions in this sale (each its own transaction id)
  int m_couponCount = 0;           // coupons tried on this sale (each its own transaction id)
  int m_claimCount = 0;            // rewards claimed in this sale (likewise)
  QList<AppliedCoupon> m_coupons;  // applied to the sale in progress
  QString m_madeSaleId;            // the sale's id when the host's basket has none
  QList<RewardOffer> m_rewards;    // the member's
  QList<Accrual> m_accruals;       // paid sales whose accrual the agent has not answered yet
  QList<QPair<QString, QJsonObject>> m_completed;  // the last sales paid: id, request sent
  QTimer m_previewDebounce;
  QTimer m_statusPoll;
  int m_retryDelayMs = 1000;
};

// The agent's error in `response` for the cashier, or empty when it is not an error: the till's
// own words for a refusal's message id (the catalogue in proto/README.md), the agent's English
// message for an id this till does not know or an error without one.
QString errorMessage(const QJsonObject& response);
bool isRetryable(const QJsonObject& response);

}  // namespace accrue::till
Q_DECLARE_METATYPE(accrue::till::AppliedCoupon)
Q_DECLARE_METATYPE(accrue::till::ClaimedReward)
