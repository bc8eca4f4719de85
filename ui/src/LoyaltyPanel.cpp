#include "LoyaltyPanel.h"

#include <QCheckBox>
#include <QColor>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QStyle>
#include <QVBoxLayout>
#include <algorithm>

namespace accrue::till {

namespace {

constexpr int kRowHeight = 48;  // touch target

QLabel* fixedLabel(QWidget* parent, int height, const QString& objectName) {
  auto* l = new QLabel(parent);
  l->setObjectName(objectName);
  l->setFixedHeight(height);
  l->setWordWrap(true);
  return l;
}

QString pointsText(qint64 n) { return QLocale().toString(n); }

// The count a translation picks its plural form by (beyond int: the form for many).
int plural(qint64 n) { return int(std::clamp<qint64>(n, 0, 1'000'000'000)); }

// Sets a style property and re-applies the style sheet rules that select on it.
void setStyleProperty(QWidget* w, const char* name, const QVariant& value) {
  w->setProperty(name, value);
  w->style()->unpolish(w);
  w->style()->polish(w);
}

// "3 min ago", "2 h ago": the offline banner's time since the last sync.
QString ago(qint64 thenMs, qint64 nowMs) {
  if (thenMs <= 0) return QObject::tr("never");
  const qint64 s = qMax<qint64>(0, (nowMs - thenMs) / 1000);
  if (s < 60) return QObject::tr("%n s ago", nullptr, int(s));
  if (s < 3600) return QObject::tr("%n min ago", nullptr, int(s / 60));
  if (s < 86400) return QObject::tr("%n h ago", nullptr, int(s / 3600));
  return QObject::tr("%n days ago", nullptr, int(s / 86400));
}

}  // namespace

RedeemDialog::RedeemDialog(const RedeemOffer& offer, qint64 available,
                           std::function<QString(qint64)> money, QWidget* parent)
    : QDialog(parent), m_offer(offer), m_money(std::move(money)) {
  setObjectName("accrueRedeemDialog");
  setWindowTitle(tr("Redeem points"));
  auto* layout = new QVBoxLayout(this);
  auto* label = new QLabel(
      tr("Available: %1 points", nullptr, plural(available)).arg(pointsText(available)), this);
  constexpr qint64 kMost = 1'000'000'000;  // a QSpinBox holds an int
  const qint64 step = qMax<qint64>(1, offer.stepPoints);
  m_points = new QSpinBox(this);
  m_points->setRange(int(qMin(qMax(offer.minPoints, step), kMost)),
                     int(qMin(offer.maxPoints, kMost)));
  m_points->setSingleStep(int(qMin(step, kMost)));
  m_points->setValue(int(qMin(offer.maxPoints, kMost)));
  m_points->setMinimumHeight(kRowHeight);
  m_points->setSuffix(tr(" points"));
  m_discount = new QLabel(this);
  m_discount->setObjectName("accrueRedeemDiscount");
  m_discount->setWordWrap(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  m_ok = buttons->button(QDialogButtonBox::Ok);
  m_ok->setText(tr("Redeem"));
  m_ok->setMinimumHeight(kRowHeight);
  buttons->button(QDialogButtonBox::Cancel)->setMinimumHeight(kRowHeight);
  connect(buttons, &QDialogButtonBox::accepted, this, [this] {
    if (m_ok->isEnabled()) accept();
  });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_points, &QSpinBox::valueChanged, this, [this] { update(); });
  layout->addWidget(label);
  layout->addWidget(m_points);
  layout->addWidget(m_discount);
  layout->addWidget(buttons);
  update();
}

qint64 RedeemDialog::points() const { return m_points->value(); }

void RedeemDialog::update() {
  const qint64 pts = m_points->value();
  const bool onStep = m_offer.stepPoints <= 0 || pts % m_offer.stepPoints == 0;
  m_ok->setEnabled(onStep && pts > 0);
  if (!onStep) {
    m_discount->setText(tr("Redeem in steps of %1 points.", nullptr, plural(m_offer.stepPoints))
                            .arg(pointsText(m_offer.stepPoints)));
    return;
  }
  const qint64 minor = m_offer.discountFor(pts);
  m_discount->setText(minor < 0 ? QString() : tr("Discount: %1").arg(m_money(minor)));
}

EnrollDialog::EnrollDialog(QWidget* parent) : QDialog(parent) {
  setObjectName("accrueEnrollDialog");
  setWindowTitle(tr("Enroll a new member"));
  auto* form = new QFormLayout(this);
  auto edit = [this](const QString& placeholder) {
    auto* e = new QLineEdit(this);
    e->setPlaceholderText(placeholder);
    e->setMinimumHeight(kRowHeight);
    return e;
  };
  m_name = edit(tr("First name or nickname"));
  m_phone = edit(tr("+48 600 000 000"));
  m_email = edit(tr("name@example.com"));
  m_card = edit(tr("Scan or type the new card"));
  m_terms = new QCheckBox(tr("Accepts the programme's terms (required)"), this);
  m_mailOptIn = new QCheckBox(tr("Offers by e-mail"), this);
  m_smsOptIn = new QCheckBox(tr("Offers by text message"), this);
  form->addRow(tr("Name"), m_name);
  form->addRow(tr("Phone"), m_phone);
  form->addRow(tr("E-mail"), m_email);
  form->addRow(tr("Card"), m_card);
  form->addRow(m_terms);
  form->addRow(m_mailOptIn);
  form->addRow(m_smsOptIn);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Enroll"));
  buttons->button(QDialogButtonBox::Ok)->setMinimumHeight(kRowHeight);
  buttons->button(QDialogButtonBox::Cancel)->setMinimumHeight(kRowHeight);
  buttons->button(QDialogButtonBox::Ok)->setEnabled(false);
  connect(m_terms, &QCheckBox::toggled, buttons->button(QDialogButtonBox::Ok),
          &QPushButton::setEnabled);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  form->addRow(buttons);
}

EnrollForm EnrollDialog::form() const {
  return EnrollForm{m_name->text(),         m_phone->text(),      m_email->text(),
                    m_card->text(),         m_terms->isChecked(), m_mailOptIn->isChecked(),
                    m_smsOptIn->isChecked()};
}

QString couponText(const TillSession& session, const AppliedCoupon& c) {
  const QString name = c.rewardName.isEmpty() ? c.couponId : c.rewardName;
  if (c.discountMinor > 0) {
    return LoyaltyPanel::tr("%1 (−%2)").arg(name, session.money(c.discountMinor, c.currency));
  }
  if (c.freeLineNo > 0) {
    return LoyaltyPanel::tr("%1: one item of line %2 free").arg(name).arg(c.freeLineNo);
  }
  if (c.pointsMultiplierBp > 0) {
    return LoyaltyPanel::tr("%1: points ×%2")
        .arg(name, QLocale().toString(double(c.pointsMultiplierBp) / 10000.0, 'g', 6));
  }
  if (!c.gift.isEmpty()) return LoyaltyPanel::tr("%1: hand over %2").arg(name, c.gift);
  return name;
}

CouponDialog::CouponDialog(TillSession* session, QWidget* parent)
    : QDialog(parent), m_session(session) {
  setObjectName("accrueCouponDialog");
  setWindowTitle(tr("Coupon"));
  setMinimumWidth(420);
  auto* layout = new QVBoxLayout(this);
  m_code = new QLineEdit(this);
  m_code->setObjectName("accrueCouponCode");
  m_code->setPlaceholderText(tr("Scan the coupon, or type its code"));
  m_code->setMinimumHeight(kRowHeight);
  m_message = new QLabel(this);
  m_message->setObjectName("accrueCouponMessage");
  m_message->setWordWrap(true);
  m_message->setMinimumHeight(kRowHeight);
  m_message->setStyleSheet("color: #b00020; font-weight: bold;");
  auto* hers = new QLabel(tr("Her rewards:"), this);
  m_rewards = new QListWidget(this);
  m_rewards->setObjectName("accrueRewardList");
  m_rewards->setFixedHeight(3 * 36);
  m_rewards->setSelectionMode(QAbstractItemView::SingleSelection);
  m_rewards->setWordWrap(true);
  m_claim = new QPushButton(tr("Claim for her"), this);
  m_claim->setObjectName("accrueClaimReward");
  m_claim->setMinimumHeight(kRowHeight);
  m_claim->setEnabled(false);
  auto* onSale = new QLabel(tr("On this sale:"), this);
  m_list = new QListWidget(this);
  m_list->setObjectName("accrueCouponList");
  m_list->setFixedHeight(3 * 36);
  m_remove = new QPushButton(tr("Take off the sale"), this);
  m_remove->setMinimumHeight(kRowHeight);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Close, this);
  m_apply = buttons->button(QDialogButtonBox::Ok);
  m_apply->setText(tr("Apply"));
  m_apply->setMinimumHeight(kRowHeight);
  buttons->button(QDialogButtonBox::Close)->setMinimumHeight(kRowHeight);
  layout->addWidget(m_code);
  layout->addWidget(m_message);
  layout->addWidget(hers);
  layout->addWidget(m_rewards);
  layout->addWidget(m_claim, 0, Qt::AlignLeft);
  layout->addWidget(onSale);
  layout->addWidget(m_list);
  layout->addWidget(m_remove, 0, Qt::AlignLeft);
  layout->addWidget(buttons);

  auto apply = [this] {
    m_message->clear();
    m_session->applyCoupon(m_code->text());
  };
  // Enter (a scanner ends with it) and the button apply; the dialog stays open until it is.
  connect(m_code, &QLineEdit::returnPressed, this, apply);
  connect(buttons, &QDialogButtonBox::accepted, this, apply);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_remove, &QPushButton::clicked, this, [this] {
    if (auto* item = m_list->currentItem())
      m_session->removeCoupon(item->data(Qt::UserRole).toString());
  });
  connect(m_list, &QListWidget::currentRowChanged, this,
          [this](int row) { m_remove->setEnabled(row >= 0); });
  connect(m_session, &TillSession::couponRefused, this, [this](const QString& e) {
    showMessage(e, true);
    m_code->setFocus();
    m_code->selectAll();
  });
  // A claimable reward of hers, claimed: its coupon goes on the sale (the dialog closes as a
  // coupon applied does), a gift is handed over, and one claimed offline reaches her app later.
  auto selectedReward = [this] {
    auto* item = m_rewards->currentItem();
    return item ? item->data(Qt::UserRole).toString() : QString();
  };
  connect(m_rewards, &QListWidget::currentRowChanged, this, [this, selectedReward] {
    m_claim->setEnabled(!selectedReward().isEmpty() && !m_session->busy());
  });
  connect(m_claim, &QPushButton::clicked, this, [this, selectedReward] {
    const QString reward = selectedReward();
    if (reward.isEmpty()) return;
    m_message->clear();
    m_session->claimReward(reward);
  });
  connect(m_session, &TillSession::claimRefused, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::rewardClaimed, this, [this](const ClaimedReward& c) {
    if (!c.gift.isEmpty()) {
      showMessage(tr("Claimed: hand over %1.").arg(c.gift), false);
    } else if (c.code.isEmpty()) {
      showMessage(tr("Claimed: %1. Her coupon reaches her app when the store is back online.")
                      .arg(c.rewardName),
                  false);
    } else if (m_session->basket().lines.isEmpty()) {
      showMessage(tr("Claimed: %1. Coupon code %2").arg(c.rewardName, c.code), false);
    }
  });
  connect(m_session, &TillSession::couponApplied, this, [this] {
    m_code->clear();
    accept();
  });
  connect(m_session, &TillSession::couponsChanged, this, &CouponDialog::refreshList);
  connect(m_session, &TillSession::rewardsChanged, this, &CouponDialog::refreshRewards);
  refreshRewards();
  connect(m_session, &TillSession::busyChanged, this, [this, selectedReward](bool busy) {
    m_apply->setEnabled(!busy);
    m_claim->setEnabled(!busy && !selectedReward().isEmpty());
  });
  refreshList();
  m_code->setFocus();
}

void CouponDialog::refreshRewards() {
  m_rewards->clear();
  for (const auto& r : m_session->rewards()) {
    QString text =
        tr("%1: %2 points", nullptr, plural(r.costPoints)).arg(r.name, pointsText(r.costPoints));
    if (!r.claimable) text += " — " + r.whyNot;
    auto* item = new QListWidgetItem(text, m_rewards);
    // What she cannot claim now is shown, dimmed, with the reason, and cannot be picked.
    if (r.claimable) {
      item->setData(Qt::UserRole, r.rewardId);
    } else {
      item->setForeground(QColor(0x5c, 0x5c, 0x5c));
      item->setFlags(item->flags() & ~Qt::ItemIsSelectable);
    }
  }
  m_claim->setEnabled(false);
  if (m_session->rewards().isEmpty()) {
    auto* item = new QListWidgetItem(m_session->state() == TillSession::State::Member
                                         ? tr("No rewards to show.")
                                         : tr("Identify the member to see her rewards."),
                                     m_rewards);
    item->setForeground(QColor(0x5c, 0x5c, 0x5c));
  }
}

void CouponDialog::showMessage(const QString& text, bool refusal) {
  m_message->setStyleSheet(refusal ? "color: #b00020; font-weight: bold;"
                                   : "color: #0b6e2e; font-weight: bold;");
  m_message->setText(text);
}

void CouponDialog::refreshList() {
  m_list->clear();
  for (const auto& c : m_session->coupons()) {
    auto* item = new QListWidgetItem(couponText(*m_session, c), m_list);
    item->setData(Qt::UserRole, c.posTxId);
  }
  m_remove->setEnabled(m_list->currentRow() >= 0);
}

LoyaltyPanel::LoyaltyPanel(TillSession* session, QWidget* parent)
    : QWidget(parent),
      m_session(session),
      m_clock([] { return QDateTime::currentMSecsSinceEpoch(); }) {
  setObjectName("accrueLoyaltyPanel");
  setMinimumWidth(360);
  setStyleSheet(
      "#accrueLoyaltyPanel { background: #ffffff; color: #111111; }"
      "#accrueLoyaltyPanel QLabel { font-size: 16px; }"
      "#accrueLoyaltyPanel QLabel#accrueEarn { font-size: 18px; font-weight: bold; }"
      "#accrueLoyaltyPanel QLabel#accrueBanner { font-size: 14px; }"
      "QPushButton { min-height: 48px; font-size: 16px; padding: 0 10px; }"
      "QLineEdit { min-height: 48px; font-size: 18px; }"
      "#accrueBanner[offline=\"true\"] { background: #fff4ce; color: #3d2c00;"
      "  border: 1px solid #c9a227; padding: 4px 8px; }"
      "#accrueLoyaltyPanel QLabel#accrueStatus { font-size: 22px; font-weight: bold; padding: 4px "
      "8px; }"
      "#accrueStatus[kind=\"member\"] { background: #0b6e2e; color: #ffffff; }"
      "#accrueStatus[kind=\"blocked\"] { background: #b00020; color: #ffffff; }"
      "#accrueStatus[kind=\"unknown\"] { background: #5c4400; color: #ffffff; }"
      "#accrueStatus[kind=\"none\"] { background: #e8e8e8; color: #111111; }"
      "#accrueLoyaltyPanel QLabel#accruePoints { font-size: 30px; font-weight: bold; }"
      "#accrueTier { font-weight: bold; border: 2px solid #111111; padding: 2px 8px; }"
      "#accrueTier[reached=\"true\"] { border-style: dashed; }"
      "#accrueMessage[error=\"true\"] { color: #b00020; font-weight: bold; }");

  m_banner = fixedLabel(this, 64, "accrueBanner");  // three lines of text
  m_input = new QLineEdit(this);
  m_input->setObjectName("accrueIdentify");
  m_input->setPlaceholderText(tr("Scan the card, or type phone, e-mail or card number"));
  m_input->installEventFilter(this);
  auto* identify = new QPushButton(tr("Identify (F2)"), this);
  m_status = fixedLabel(this, 44, "accrueStatus");
  m_name = fixedLabel(this, 28, "accrueName");
  m_tier = new QLabel(this);
  m_tier->setObjectName("accrueTier");
  m_tier->setFixedHeight(28);
  m_points = fixedLabel(this, 44, "accruePoints");
  m_pending = fixedLabel(this, 48, "accruePending");
  m_expiring = fixedLabel(this, 24, "accrueExpiring");
  m_earn = fixedLabel(this, 28, "accrueEarn");
  m_coupons = fixedLabel(this, 48, "accrueCoupons");
  m_message = fixedLabel(this, 48, "accrueMessage");
  m_redeem = new QPushButton(tr("Redeem (F6)"), this);
  m_coupon = new QPushButton(tr("Coupon (F8)"), this);
  m_enroll = new QPushButton(tr("Enroll (F7)"), this);
  m_clear = new QPushButton(tr("Clear (Esc)"), this);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(m_banner);
  auto* idRow = new QHBoxLayout;
  idRow->addWidget(m_input, 1);
  idRow->addWidget(identify);
  layout->addLayout(idRow);
  layout->addWidget(m_status);
  auto* nameRow = new QHBoxLayout;
  nameRow->addWidget(m_name, 1);
  nameRow->addWidget(m_tier);
  layout->addLayout(nameRow);
  layout->addWidget(m_points);
  layout->addWidget(m_pending);
  layout->addWidget(m_expiring);
  layout->addWidget(m_earn);
  layout->addWidget(m_coupons);
  auto* actions = new QGridLayout;
  actions->addWidget(m_redeem, 0, 0);
  actions->addWidget(m_coupon, 0, 1);
  actions->addWidget(m_enroll, 1, 0);
  actions->addWidget(m_clear, 1, 1);
  layout->addLayout(actions);
  layout->addWidget(m_message);
  layout->addStretch(1);

  auto shortcut = [this](QKeySequence key, auto slot) {
    auto* s = new QShortcut(key, this);
    s->setContext(Qt::WidgetWithChildrenShortcut);
    connect(s, &QShortcut::activated, this, slot);
  };
  shortcut(QKeySequence(Qt::Key_F2), [this] {
    m_input->setFocus();
    m_input->selectAll();
  });
  shortcut(QKeySequence(Qt::Key_F6), &LoyaltyPanel::openRedeem);
  shortcut(QKeySequence(Qt::Key_F7), &LoyaltyPanel::openEnroll);
  shortcut(QKeySequence(Qt::Key_F8), &LoyaltyPanel::openCoupon);
  shortcut(QKeySequence(Qt::Key_Escape), [this] { m_session->clear(); });

  connect(identify, &QPushButton::clicked, this, [this] { submitInput(Entry::Keyed); });
  connect(m_redeem, &QPushButton::clicked, this, &LoyaltyPanel::openRedeem);
  connect(m_enroll, &QPushButton::clicked, this, &LoyaltyPanel::openEnroll);
  connect(m_coupon, &QPushButton::clicked, this, &LoyaltyPanel::openCoupon);
  connect(m_clear, &QPushButton::clicked, this, [this] { m_session->clear(); });

  connect(m_session, &TillSession::stateChanged, this, [this] { refresh(); });
  connect(m_session, &TillSession::memberChanged, this, [this] { refresh(); });
  connect(m_session, &TillSession::previewChanged, this, [this] { refresh(); });
  connect(m_session, &TillSession::busyChanged, this, [this] { refresh(); });
  connect(m_session, &TillSession::agentChanged, this, [this] { refreshBanner(); });
  connect(m_session, &TillSession::cleared, this, [this] {
    m_input->clear();
    showMessage({}, false);
  });
  connect(m_session, &TillSession::errorOccurred, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::redeemRefused, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::enrollRefused, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::returnRefused, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::couponRefused, this,
          [this](const QString& e) { showMessage(e, true); });
  connect(m_session, &TillSession::couponsChanged, this, [this] { refresh(); });
  connect(m_session, &TillSession::couponApplied, this,
          [this](const QString&, const AppliedCoupon& c) {
            showMessage(c.offline ? tr("Coupon applied (store offline: confirmed later).")
                                  : tr("Coupon applied."),
                        false);
          });
  connect(m_session, &TillSession::redeemed, this,
          [this](const QString&, qint64 pts, qint64 minor, const QString& currency) {
            showMessage(tr("%1 points redeemed: %2 off this sale.", nullptr, plural(pts))
                            .arg(pointsText(pts), m_session->money(minor, currency)),
                        false);
          });
  connect(m_session, &TillSession::accrued, this, [this](const QString&, qint64 pts) {
    showMessage(tr("%1 points added.", nullptr, plural(pts)).arg(pointsText(pts)), false);
  });
  connect(m_session, &TillSession::enrolled, this,
          [this](const QString&, bool provisional, qint64) {
            showMessage(provisional ? tr("Enrolled. The card works now; the membership is "
                                         "confirmed when the store is online.")
                                    : tr("Enrolled."),
                        false);
          });
  refresh();
  refreshBanner();
}

bool LoyaltyPanel::eventFilter(QObject* watched, QEvent* event) {
  if (watched == m_input && event->type() == QEvent::KeyPress) {
    auto* key = static_cast<QKeyEvent*>(event);
    if (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) {
      submitInput(m_scan.enter(m_clock()) ? Entry::Scanned : Entry::Keyed);
      return true;
    }
    if (!key->text().isEmpty() && key->text().at(0).isPrint()) {
      m_scan.key(key->text().at(0), m_clock());
    }
  }
  return QWidget::eventFilter(watched, event);
}

void LoyaltyPanel::submitInput(Entry entry) {
  const QString text = m_input->text().trimmed();
  if (text.isEmpty()) return;
  showMessage({}, false);
  // A coupon scanned (or pasted) into the identify field is applied, not looked up.
  if (looksLikeCoupon(text)) {
    m_input->clear();
    m_session->applyCoupon(text);
    return;
  }
  m_session->identify(guessIdentifier(text, entry));
  if (entry == Entry::Scanned) m_input->clear();  // ready for the next scan
}

void LoyaltyPanel::openRedeem() {
  if (m_session->state() != TillSession::State::Member) return;
  const Member& m = m_session->member();
  if (m.availablePoints <= 0) return showMessage(tr("No points available to redeem."), true);
  if (m.redeemable.maxPoints <= 0) {
    return showMessage(tr("%1 points available: not enough to redeem here now.", nullptr,
                          plural(m.availablePoints))
                           .arg(pointsText(m.availablePoints)),
                       true);
  }
  delete m_redeemDialog;
  m_redeemDialog = new RedeemDialog(
      m.redeemable, m.availablePoints,
      [this, currency = m.redeemable.currency](qint64 minor) {
        return m_session->money(minor, currency);
      },
      this);
  connect(m_redeemDialog, &QDialog::accepted, this,
          [this] { m_session->redeemPoints(m_redeemDialog->points()); });
  m_redeemDialog->open();
}

void LoyaltyPanel::openEnroll() {
  const auto s = m_session->state();
  if (s == TillSession::State::Member || s == TillSession::State::Blocked) return;
  delete m_enrollDialog;
  m_enrollDialog = new EnrollDialog(this);
  // A card that identified nobody is most likely the new member's.
  const QString typed = m_input->text().trimmed();
  if (s == TillSession::State::Unknown && !typed.isEmpty()) {
    const Identifier id = guessIdentifier(typed, Entry::Keyed);
    if (id.kind == "IDENTIFIER_KIND_CARD") m_enrollDialog->cardEdit()->setText(typed);
    if (id.kind == "IDENTIFIER_KIND_PHONE") m_enrollDialog->phoneEdit()->setText(typed);
    if (id.kind == "IDENTIFIER_KIND_EMAIL") m_enrollDialog->emailEdit()->setText(typed);
  }
  connect(m_enrollDialog, &QDialog::accepted, this,
          [this] { m_session->enroll(m_enrollDialog->form()); });
  m_enrollDialog->open();
}

void LoyaltyPanel::openCoupon() {
  if (m_session->state() == TillSession::State::Blocked) {
    return showMessage(tr("This member is blocked: coupons cannot be used."), true);
  }
  delete m_couponDialog;
  m_couponDialog = new CouponDialog(m_session, this);
  m_couponDialog->open();
}

void LoyaltyPanel::showMessage(const QString& text, bool error) {
  m_message->setText(text);
  setStyleProperty(m_message, "error", error);
}

void LoyaltyPanel::refresh() {
  const auto& m = m_session->member();
  const auto state = m_session->state();
  QString kind = "none";
  switch (state) {
    case TillSession::State::NoCustomer:
      m_status->setText(tr("No customer"));
      break;
    case TillSession::State::Identifying:
      m_status->setText(tr("Looking up…"));
      break;
    case TillSession::State::Member:
      kind = "member";
      m_status->setText(m.provisional ? tr("✔ New member (pending confirmation)") : tr("✔ Member"));
      break;
    case TillSession::State::Unknown:
      kind = "unknown";
      m_status->setText(tr("? Not a member"));
      break;
    case TillSession::State::Blocked:
      kind = "blocked";
      m_status->setText(tr("✖ BLOCKED"));
      break;
  }
  setStyleProperty(m_status, "kind", kind);

  const bool member = state == TillSession::State::Member;
  m_name->setText(member || state == TillSession::State::Blocked ? m.displayName : QString());
  // A tier reached here shows at once, marked as the cloud's to confirm; a downgrade never shows.
  const bool reached = member && !m.reachedTierName.isEmpty();
  m_tier->setText(!member   ? QString()
                  : reached ? tr("%1 reached").arg(m.reachedTierName)
                            : (m.tierName.isEmpty() ? m.tierId : m.tierName));
  m_tier->setToolTip(reached ? tr("Confirmed when the store is online") : QString());
  setStyleProperty(m_tier, "reached", reached ? "true" : "false");
  m_tier->setVisible(member && (reached || !(m.tierName.isEmpty() && m.tierId.isEmpty())));
  m_points->setText(
      member
          ? tr("%1 points", nullptr, plural(m.availablePoints)).arg(pointsText(m.availablePoints))
          : QString());
  if (state == TillSession::State::Unknown) {
    m_pending->setText(tr("Enroll the customer with F7, or go on without points."));
  } else if (state == TillSession::State::Blocked) {
    m_pending->setText(
        tr("This card cannot earn or redeem points. Refer the customer to "
           "customer service."));
  } else {
    m_pending->setText(
        member && m.pendingPoints > 0
            ? tr("+ %1 pending", nullptr, plural(m.pendingPoints)).arg(pointsText(m.pendingPoints))
            : QString());
  }
  m_expiring->setText(
      member && m.expiringPoints > 0
          ? tr("%1 points expire on %2", nullptr, plural(m.expiringPoints))
                .arg(pointsText(m.expiringPoints),
                     QLocale().toString(QDateTime::fromMSecsSinceEpoch(m.expiringAtMs).date(),
                                        QLocale::ShortFormat))
          : QString());
  const qint64 earn = m_session->previewPoints();
  if (earn < 0 || state == TillSession::State::Blocked) {
    m_earn->clear();
  } else if (state == TillSession::State::Unknown) {
    m_earn->setText(tr("As a member, this sale would earn %1 points", nullptr, plural(earn))
                        .arg(pointsText(earn)));
  } else {
    m_earn->setText(tr("This sale earns %1 points", nullptr, plural(earn)).arg(pointsText(earn)));
  }
  m_redeem->setEnabled(member && !m_session->busy() && m.redeemable.maxPoints > 0);
  m_coupon->setEnabled(state != TillSession::State::Blocked &&
                       state != TillSession::State::Identifying);
  const auto& coupons = m_session->coupons();
  QStringList lines;
  for (const auto& c : coupons) lines.append(couponText(*m_session, c));
  // Two lines fit; more are summed up (the dialog lists them all).
  m_coupons->setText(coupons.size() <= 2 ? lines.join("\n")
                                         : tr("%n coupons on this sale (F8 lists them)", nullptr,
                                              int(coupons.size())));
  m_enroll->setEnabled(state == TillSession::State::NoCustomer ||
                       state == TillSession::State::Unknown);
}

void LoyaltyPanel::refreshBanner() {
  const auto& a = m_session->agent();
  QString text;
  if (!a.connected) {
    text = tr("Loyalty service not running on this till: trying again…");
  } else if (!a.online) {
    const qint64 queued = qint64(qMin<quint64>(a.queuedEvents, 1'000'000'000));
    text = tr("Offline: points are kept and sent later. Last sync %1.")
               .arg(ago(a.lastSyncMs, QDateTime::currentMSecsSinceEpoch()));
    if (queued > 0) {
      text += " " + tr("%1 events waiting.", nullptr, plural(queued)).arg(pointsText(queued));
    }
  }
  m_banner->setText(text);
  setStyleProperty(m_banner, "offline", !text.isEmpty());
}

}  // namespace accrue::till
