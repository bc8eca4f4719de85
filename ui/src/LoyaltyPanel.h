// The cashier's loyalty panel: shows a TillSession and forwards the cashier's input to it. No
// business logic lives here.
//
// Keyboard first: F2 identify field, F6 redeem, F7 enroll, F8 coupon, Esc clear. A scanner's
// keystrokes are told from typing (ScanDetector) and identify at once. Sizes are for touch (48 px
// rows), text is high-contrast, and every area keeps its size whatever it shows, so nothing jumps.
#pragma once

#include <QDialog>
#include <QWidget>
#include <functional>

#include "ScanDetector.h"
#include "TillSession.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QSpinBox;

namespace accrue::till {

// Proposes the largest amount she can redeem (the agent's offer: her points rounded down to the
// programme's step, within its limits) with the discount it gives; the cashier may lower it in
// steps, the discount following. Enter redeems.
class RedeemDialog : public QDialog {
  Q_OBJECT
 public:
  RedeemDialog(const RedeemOffer& offer, qint64 available,
               std::function<QString(qint64 minor)> money, QWidget* parent);
  qint64 points() const;
  QSpinBox* pointsBox() const { return m_points; }
  QLabel* discountLabel() const { return m_discount; }
  QPushButton* redeemButton() const { return m_ok; }

 private:
  void update();

  RedeemOffer m_offer;
  std::function<QString(qint64)> m_money;
  QSpinBox* m_points;
  QLabel* m_discount;
  QPushButton* m_ok;
};

class EnrollDialog : public QDialog {
  Q_OBJECT
 public:
  explicit EnrollDialog(QWidget* parent);
  EnrollForm form() const;
  // For tests and the host's convenience.
  QLineEdit* nameEdit() const { return m_name; }
  QLineEdit* phoneEdit() const { return m_phone; }
  QLineEdit* emailEdit() const { return m_email; }
  QLineEdit* cardEdit() const { return m_card; }
  QCheckBox* termsBox() const { return m_terms; }

 private:
  QLineEdit* m_name;
  QLineEdit* m_phone;
  QLineEdit* m_email;
  QLineEdit* m_card;
  QCheckBox* m_terms;
  QCheckBox* m_mailOptIn;
  QCheckBox* m_smsOptIn;
};

// Applies a coupon by its code, scanned or keyed, and lists the coupons on the sale with a way
// to take one off; shows the member's rewards, what each costs and why she cannot claim one yet. A
// refusal stays in the dialog, with its reason, for the cashier to tell the customer; the dialog
// closes when the coupon is applied.
class CouponDialog : public QDialog {
  Q_OBJECT
 public:
  CouponDialog(TillSession* session, QWidget* parent);
  QLineEdit* codeEdit() const { return m_code; }
  QLabel* messageLabel() const { return m_message; }
  QListWidget* couponList() const { return m_list; }
  QListWidget* rewardList() const { return m_rewards; }
  QPushButton* applyButton() const { return m_apply; }
  QPushButton* removeButton() const { return m_remove; }
  QPushButton* claimButton() const { return m_claim; }

 private:
  void refreshList();
  void refreshRewards();

  TillSession* m_session;
  QListWidget* m_rewards;
  QLineEdit* m_code;
  QLabel* m_message;
  QListWidget* m_list;
  QPushButton* m_apply;
  QPushButton* m_remove;
  QPushButton* m_claim;
  // The message line shows a refusal (red) or what a claim gave her (green).
  void showMessage(const QString& text, bool refusal);
};

// How an applied coupon reads on the panel and in the dialog: "5 EUR off (−€5.00)".
QString couponText(const TillSession& session, const AppliedCoupon& c);

class LoyaltyPanel : public QWidget {
  Q_OBJECT

 public:
  explicit LoyaltyPanel(TillSession* session, QWidget* parent = nullptr);

  // What the tests look at.
  QLineEdit* identifyEdit() const { return m_input; }
  QLabel* statusLabel() const { return m_status; }
  QLabel* bannerLabel() const { return m_banner; }
  QLabel* messageLabel() const { return m_message; }
  QLabel* pointsLabel() const { return m_points; }
  QLabel* earnLabel() const { return m_earn; }
  QPushButton* redeemButton() const { return m_redeem; }
  QPushButton* enrollButton() const { return m_enroll; }
  QPushButton* couponButton() const { return m_coupon; }
  QLabel* couponsLabel() const { return m_coupons; }
  CouponDialog* couponDialog() const { return m_couponDialog; }
  RedeemDialog* redeemDialog() const { return m_redeemDialog; }
  EnrollDialog* enrollDialog() const { return m_enrollDialog; }
  // The clock the scanner detection reads (ms); tests replace it.
  void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }

 public slots:
  void openRedeem();
  void openEnroll();
  void openCoupon();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void refresh();
  void refreshBanner();
  void showMessage(const QString& text, bool error);
  void submitInput(Entry entry);

  TillSession* m_session;
  QLabel* m_banner;
  QLineEdit* m_input;
  QLabel* m_status;
  QLabel* m_name;
  QLabel* m_tier;
  QLabel* m_points;
  QLabel* m_pending;
  QLabel* m_expiring;
  QLabel* m_earn;
  QLabel* m_coupons;
  QLabel* m_message;
  QPushButton* m_redeem;
  QPushButton* m_enroll;
  QPushButton* m_coupon;
  QPushButton* m_clear;
  RedeemDialog* m_redeemDialog = nullptr;
  EnrollDialog* m_enrollDialog = nullptr;
  CouponDialog* m_couponDialog = nullptr;
  ScanDetector m_scan;
  std::function<qint64()> m_clock;
};

}  // namespace accrue::till
