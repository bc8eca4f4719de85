// The till plugin against a real accrue-agent process (seeded replica, no cloud: the store is
// offline, its normal mode), on Qt's offscreen platform: the session model with QSignalSpy, the
// panel's scanner detection, shortcuts and banner, the plugin loaded through QPluginLoader, and
// a screenshot of each state (saved as PNG under ACCRUE_SCREENSHOT_DIR when it is set).
#include <QCheckBox>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPluginLoader>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>
#include <QTranslator>

#include "AgentConnection.h"
#include "LoyaltyPanel.h"
#include "ScanDetector.h"
#include "TillSession.h"
#include "TillWindow.h"
#include "accrue/till/TillLoyaltyInterface.h"
#include "common/synthetic.h"
#include "online_cloud.h"
#include "tests/agent/agent_process.h"

using namespace accrue::till;

namespace {

constexpr int kMembers = 200;
constexpr int kBlocked = 13;  // synthetic_blocked(13)

QString card(int member) { return QString::fromStdString(accrue::synthetic_card_number(member)); }

Basket basket(const QString& saleId, qint64 amountMinor = 10000) {
  Basket b;
  b.saleId = saleId;
  b.currency = "EUR";
  BasketLine l;
  l.lineNo = 1;
  l.sku = "SKU-1";
  l.categories = {"apparel"};
  l.amountMinor = amountMinor;
  b.lines = {l};
  return b;
}

// The till in German for as long as it lives: the plugin's translation and German numbers.
// Needs the plugin loaded (its resources hold the translation).
class InGerman {
 public:
  InGerman() {
    m_loaded = m_de.load(QLocale(QLocale::German), "accrue_till", "_", ":/accrue/i18n");
    if (m_loaded) QCoreApplication::installTranslator(&m_de);
    QLocale::setDefault(QLocale(QLocale::German, QLocale::Germany));
  }
  ~InGerman() {
    if (m_loaded) QCoreApplication::removeTranslator(&m_de);
    QLocale::setDefault(m_before);
  }
  bool loaded() const { return m_loaded; }

 private:
  QTranslator m_de;
  QLocale m_before;
  bool m_loaded = false;
};

}  // namespace

class TillSessionTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    m_agent = std::make_unique<accrue::testing::AgentProcess>(kMembers);
    QCOMPARE(m_agent->seed_status(), 0);
    QVERIFY(m_agent->start());
  }
  void init() {
    m_connection = std::make_unique<AgentConnection>();
    m_session = std::make_unique<TillSession>(m_connection.get());
    m_session->setTillId("till-qt");
    m_session->setRetryDelay(100);
    m_connection->connectTo(socket());  // a local socket may connect within the call
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isConnected(), 5000);
  }
  void cleanup() {
    m_panel.reset();
    m_session.reset();
    m_connection.reset();
  }
  void cleanupTestCase() { m_agent.reset(); }

  void guessesTheKindOfIdentifier_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("kind");
    QTest::newRow("card") << "6000 0000 0000 0001"
                          << "IDENTIFIER_KIND_CARD";
    QTest::newRow("phone with +") << "+48 600 100 200"
                                  << "IDENTIFIER_KIND_PHONE";
    QTest::newRow("national phone") << "600-100-200"
                                    << "IDENTIFIER_KIND_PHONE";
    QTest::newRow("e-mail") << "ada@example.com"
                            << "IDENTIFIER_KIND_EMAIL";
    QTest::newRow("qr token") << "AQR1x9Zk2"
                              << "IDENTIFIER_KIND_QR_TOKEN";
  }
  void guessesTheKindOfIdentifier() {
    QFETCH(QString, text);
    QFETCH(QString, kind);
    QCOMPARE(guessIdentifier(text, Entry::Keyed).kind, kind);
  }

  void toldACouponFromAnIdentifier() {
    const QString code = "04" + QString(180, 'K');
    QVERIFY(looksLikeCoupon(code));
    QVERIFY(looksLikeCoupon(code.toLower()));
    QVERIFY(looksLikeCoupon(code.left(40) + "-" + code.mid(40, 40) + " " + code.mid(80)));
    QVERIFY(!looksLikeCoupon(card(1)));
    QVERIFY(!looksLikeCoupon("AQR1x9Zk2"));
    QVERIFY(!looksLikeCoupon("ada@example.com"));
    QVERIFY(!looksLikeCoupon("04" + QString(40, 'K')));  // too short for a signed code
  }

  void identifiesAMemberAndPreviewsTheBasket() {
    QSignalSpy identified(m_session.get(), &TillSession::identified);
    m_session->identify(guessIdentifier(card(1), Entry::Scanned));
    QCOMPARE(m_session->state(), TillSession::State::Identifying);
    QVERIFY(identified.wait(3000));
    QCOMPARE(m_session->state(), TillSession::State::Member);
    QVERIFY(!m_session->member().customerId.isEmpty());
    QCOMPARE(identified.first().at(0).toString(), m_session->member().customerId);
    QSignalSpy preview(m_session.get(), &TillSession::previewChanged);
    m_session->setBasket(basket("sale-preview"));
    QVERIFY(preview.wait(3000));
    QVERIFY(m_session->previewPoints() > 0);
    // The basket changes: a new preview, larger.
    const qint64 before = m_session->previewPoints();
    m_session->setBasket(basket("sale-preview", 30000));
    QVERIFY(preview.wait(3000));
    QVERIFY(m_session->previewPoints() > before);
  }

  void aBlockedMemberAndAnUnknownCardAreTheirOwnStates() {
    QSignalSpy state(m_session.get(), &TillSession::stateChanged);
    QSignalSpy identified(m_session.get(), &TillSession::identified);
    m_session->identify(guessIdentifier(card(kBlocked), Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Blocked, 3000);
    m_session->identify(guessIdentifier("6000999999999999", Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Unknown, 3000);
    QCOMPARE(identified.count(), 0);
    // A blocked member cannot be sold points to: completeSale does nothing.
    m_session->setBasket(basket("sale-unknown"));
    QVERIFY(!m_session->completeSale());
  }

  void thePaidSalesPointsAreAccruedOnce() {
    identifyMember(2);
    const qint64 before = m_session->member().availablePoints + m_session->member().pendingPoints;
    QSignalSpy preview(m_session.get(), &TillSession::previewChanged);
    m_session->setBasket(basket("sale-pay-1"));
    QVERIFY(preview.wait(3000));
    QSignalSpy accrued(m_session.get(), &TillSession::accrued);
    QVERIFY(m_session->completeSale());
    QVERIFY(accrued.wait(3000));
    QCOMPARE(accrued.first().at(0).toString(), QString("sale-pay-1"));
    QCOMPARE(accrued.first().at(1).toLongLong(), m_session->previewPoints());
    QCOMPARE(m_session->member().availablePoints + m_session->member().pendingPoints,
             before + m_session->previewPoints());
    // Paying the same sale again (a double click, a retry) earns nothing more.
    QVERIFY(m_session->completeSale());
    QVERIFY(accrued.wait(3000));
    QCOMPARE(m_session->member().availablePoints + m_session->member().pendingPoints,
             before + m_session->previewPoints());
  }

  void aTierReachedHereShowsUntilTheCloudConfirmsIt() {
    // A bronze member some way below silver (1000 points over the window, from the cloud).
    int member = 0;
    for (int i = 100; i < kMembers && member == 0; ++i) {
      const int64_t value = (int64_t{i} * 53) % 6000;  // as the agent's seed writes it
      if (accrue::synthetic_tier_index(i, 3) == 0 && !accrue::synthetic_blocked(i) &&
          value >= 700 && value < 1000) {
        member = i;
      }
    }
    QVERIFY(member != 0);
    identifyMember(member);
    QCOMPARE(m_session->member().tierName, QString("Bronze"));
    QVERIFY(m_session->member().reachedTierName.isEmpty());
    makePanel();
    QSignalSpy accrued(m_session.get(), &TillSession::accrued);
    m_session->setBasket(basket("sale-to-silver", 60000));
    QVERIFY(m_session->completeSale());
    QVERIFY(accrued.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->member().reachedTierName, QString("Silver"), 3000);
    auto* tier = m_panel->findChild<QLabel*>("accrueTier");
    QVERIFY(tier);
    QCOMPARE(tier->text(), QString("Silver reached"));
    QCOMPARE(tier->toolTip(), QString("Confirmed when the store is online"));
    // The profile says it again when she is identified the next time.
    identifyMember(member);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->member().reachedTierName, QString("Silver"), 3000);
  }

  void aRedemptionGivesADiscountAndARefusalSaysWhy() {
    identifyMember(3);
    const qint64 available = m_session->member().availablePoints;
    QVERIFY2(available > 100, "the seeded member has points to spend");
    m_session->setBasket(basket("sale-redeem-1"));
    QSignalSpy redeemed(m_session.get(), &TillSession::redeemed);
    m_session->redeemPoints(100);
    QVERIFY(redeemed.wait(5000));
    QCOMPARE(redeemed.first().at(0).toString(), QString("sale-redeem-1"));
    QCOMPARE(redeemed.first().at(1).toLongLong(), 100);
    QVERIFY(redeemed.first().at(2).toLongLong() > 0);
    QCOMPARE(redeemed.first().at(3).toString(), QString("EUR"));
    QCOMPARE(m_session->member().availablePoints, available - 100);
    // More than the member has: refused, with the agent's reason.
    QSignalSpy refused(m_session.get(), &TillSession::redeemRefused);
    m_session->redeemPoints(available * 10);
    QVERIFY(refused.wait(5000));
    QVERIFY(!refused.first().at(0).toString().isEmpty());
    QCOMPARE(m_session->member().availablePoints, available - 100);
  }

  void aNewMemberEnrollsAndIsShownAtOnce() {
    m_session->identify(guessIdentifier("6000555500001111", Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Unknown, 3000);
    QSignalSpy refused(m_session.get(), &TillSession::enrollRefused);
    EnrollForm form;
    form.displayName = "Ada";
    form.card = "6000555500001111";
    m_session->enroll(form);  // terms not accepted
    QCOMPARE(refused.count(), 1);
    form.termsAccepted = true;
    QSignalSpy enrolled(m_session.get(), &TillSession::enrolled);
    QSignalSpy identified(m_session.get(), &TillSession::identified);
    m_session->enroll(form);
    QVERIFY(enrolled.wait(3000));
    QVERIFY(!enrolled.first().at(0).toString().isEmpty());
    QVERIFY(identified.wait(3000));
    QCOMPARE(m_session->state(), TillSession::State::Member);
  }

  void theSessionRecoversWhenTheAgentComesBack() {
    identifyMember(4);
    m_session->setBasket(basket("sale-outage-1"));
    QSignalSpy connected(m_connection.get(), &AgentConnection::connectedChanged);
    QCOMPARE(m_agent->stop(), 0);
    QVERIFY(connected.wait(3000));
    QCOMPARE(connected.last().at(0).toBool(), false);
    QVERIFY(!m_session->agent().connected);
    // Paid while the agent is away: retried until it answers.
    QSignalSpy accrued(m_session.get(), &TillSession::accrued);
    QVERIFY(m_session->completeSale());
    QTest::qWait(400);
    QCOMPARE(accrued.count(), 0);
    QCOMPARE(m_session->pendingAccruals(), 1);
    QVERIFY(m_agent->start());
    QTRY_VERIFY_WITH_TIMEOUT(m_session->agent().connected, 8000);
    QTRY_COMPARE_WITH_TIMEOUT(accrued.count(), 1, 8000);
    QCOMPARE(m_session->pendingAccruals(), 0);
    m_session->identify(guessIdentifier(card(5), Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Member, 3000);
  }

  void aReturnTakesBackWhatItsItemsEarned() {
    identifyMember(14);
    QSignalSpy accrued(m_session.get(), &TillSession::accrued);
    m_session->setBasket(basket("sale-return-1", 20000));
    QVERIFY(m_session->completeSale());
    QVERIFY(accrued.wait(3000));
    const qint64 earned = accrued.first().at(1).toLongLong();
    QVERIFY(earned > 0);
    QSignalSpy returned(m_session.get(), &TillSession::returned);
    m_session->returnItems("return-1", "sale-return-1", {ReturnLine{1, 1000}});
    QVERIFY(returned.wait(3000));
    QCOMPARE(returned.first().at(0).toString(), QString("return-1"));
    QCOMPARE(returned.first().at(1).toLongLong(), earned);
    // A sale this store never made: refused with the agent's reason.
    QSignalSpy refused(m_session.get(), &TillSession::returnRefused);
    m_session->returnItems("return-2", "no-such-sale", {ReturnLine{1, 1000}});
    QVERIFY(refused.wait(3000));
    QVERIFY(!refused.first().at(0).toString().isEmpty());
  }

  void thePanelEnrollsThroughItsDialog() {
    makePanel();
    m_panel->identifyEdit()->setText("6000555500002222");
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Unknown, 3000);
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_F7);
    EnrollDialog* dialog = m_panel->enrollDialog();
    QVERIFY(dialog && dialog->isVisible());
    QCOMPARE(dialog->cardEdit()->text(), QString("6000555500002222"));  // the card just scanned
    dialog->nameEdit()->setText("Grace");
    dialog->termsBox()->setChecked(true);
    QSignalSpy enrolled(m_session.get(), &TillSession::enrolled);
    dialog->accept();
    QVERIFY(enrolled.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Member, 3000);
    QVERIFY(!m_panel->messageLabel()->text().isEmpty());
  }

  void lateAnswersForAClearedCustomerAreDropped() {
    QSignalSpy identified(m_session.get(), &TillSession::identified);
    m_session->identify(guessIdentifier(card(6), Entry::Scanned));
    m_session->clear();
    QTest::qWait(300);
    QCOMPARE(identified.count(), 0);
    QCOMPARE(m_session->state(), TillSession::State::NoCustomer);
  }

  void aScannerIsToldFromTyping() {
    ScanDetector d;
    for (int i = 0; i < 16; ++i) d.key('6', 1000 + i * 8);
    QVERIFY(d.enter(1000 + 16 * 8));
    for (int i = 0; i < 16; ++i) d.key('6', 5000 + i * 120);
    QVERIFY(!d.enter(5000 + 16 * 120));
    for (int i = 0; i < 3; ++i) d.key('6', 9000 + i * 5);  // too short for a card
    QVERIFY(!d.enter(9015));
  }

  void thePanelIdentifiesAScanAndKeepsTypedText() {
    makePanel();
    qint64 now = 1000;
    m_panel->setClock([&now] { return now += 5; });  // 5 ms between keys: a scanner
    QTest::keyClicks(m_panel->identifyEdit(), card(7));
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Member, 3000);
    QVERIFY2(m_panel->identifyEdit()->text().isEmpty(), "ready for the next scan");
    QVERIFY(m_panel->pointsLabel()->text().contains("points"));
    m_panel->setClock([&now] { return now += 150; });  // a person
    QTest::keyClicks(m_panel->identifyEdit(), card(8));
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Member, 3000);
    QCOMPARE(m_panel->identifyEdit()->text(), card(8));
  }

  void shortcutsReachEveryAction() {
    makePanel();
    m_session->identify(guessIdentifier(card(9), Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Member, 3000);
    QTRY_VERIFY_WITH_TIMEOUT(m_panel->redeemButton()->isEnabled(), 3000);
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_F6);
    QVERIFY(m_panel->redeemDialog() && m_panel->redeemDialog()->isVisible());
    m_panel->redeemDialog()->reject();
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_Escape);
    QCOMPARE(m_session->state(), TillSession::State::NoCustomer);
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_F7);
    QVERIFY(m_panel->enrollDialog() && m_panel->enrollDialog()->isVisible());
    m_panel->enrollDialog()->reject();
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_F2);
    QVERIFY(m_panel->identifyEdit()->hasFocus());
  }

  void theOfflineBannerShowsTheQueue() {
    makePanel();
    m_session->refreshAgentStatus();
    // This agent has no cloud: offline is its state, and its sales wait in the queue.
    QTRY_VERIFY_WITH_TIMEOUT(m_panel->bannerLabel()->text().contains("Offline"), 3000);
    QTRY_VERIFY_WITH_TIMEOUT(m_panel->bannerLabel()->text().contains("waiting"), 3000);
    // The same size whatever it shows (or when it shows nothing): no layout jumps.
    QLabel* banner = m_panel->bannerLabel();
    QCOMPARE(banner->minimumHeight(), banner->maximumHeight());
    QCOMPARE(banner->height(), banner->minimumHeight());
  }

  void theRefusalReasonIsShownVerbatim() {
    makePanel();
    identifyMember(10);
    QSignalSpy refused(m_session.get(), &TillSession::redeemRefused);
    m_session->redeemPoints(m_session->member().availablePoints * 10);
    QVERIFY(refused.wait(5000));
    QCOMPARE(m_panel->messageLabel()->text(), refused.first().at(0).toString());
  }

  void thePluginLoadsAsAHostLoadsIt() {
    QPluginLoader loader(ACCRUE_TILL_PLUGIN);
    auto* loyalty = qobject_cast<TillLoyaltyInterface*>(loader.instance());
    QVERIFY2(loyalty, qPrintable(loader.errorString()));
    QCOMPARE(loader.metaData().value("IID").toString(), QString("org.accrue.TillLoyalty/1.0"));
    QWidget host;
    QWidget* panel = loyalty->createPanel(&host);
    QVERIFY(panel);
    QSignalSpy identified(loyalty->signalSource(), SIGNAL(customerIdentified(QString, QString)));
    QSignalSpy accrued(loyalty->signalSource(), SIGNAL(pointsAccrued(QString, qlonglong)));
    loyalty->connectToAgent(socket(), "till-plugin");
    auto* edit = panel->findChild<QLineEdit*>("accrueIdentify");
    QVERIFY(edit);
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
          edit->setText(card(11));
          QTest::keyClick(edit, Qt::Key_Return);
          return identified.wait(500);
        }(),
        5000);
    loyalty->setBasket(basket("plugin-sale-1"));
    loyalty->completeSale();
    QVERIFY(accrued.wait(3000));
    QCOMPARE(accrued.first().at(0).toString(), QString("plugin-sale-1"));
    // A sale the agent refuses (a negative quantity): the host hears it once.
    QSignalSpy errors(loyalty->signalSource(), SIGNAL(errorOccurred(QString)));
    Basket bad = basket("plugin-sale-2");
    bad.lines[0].quantityMilli = -1000;
    loyalty->setBasket(bad);
    loyalty->completeSale();
    QVERIFY(errors.wait(3000));
    QTest::qWait(200);
    QCOMPARE(errors.count(), 1);
    QCOMPARE(accrued.count(), 1);
    loyalty->clearCustomer();
  }

  void moneyIsShownInTheCurrencysOwnExponent() {
    const QLocale en(QLocale::English, QLocale::UnitedStates);
    const QLocale de(QLocale::German, QLocale::Germany);
    QVERIFY(formatMoney(123456, "JPY", 0, en).contains("123,456"));
    QVERIFY(!formatMoney(123456, "JPY", 0, en).contains("."));
    QVERIFY(formatMoney(1250, "EUR", 2, en).contains("12.50"));
    QVERIFY(formatMoney(1250, "EUR", 2, de).contains("12,50"));
    QVERIFY(formatMoney(1250, "KWD", 3, en).contains("1.250"));
    QVERIFY(formatMoney(1250, "KWD", 3, en).contains("KWD"));
    // The agent says the store's exponent; the session uses it for the store's currency.
    m_session->refreshAgentStatus();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->agent().currency, QString("EUR"), 3000);
    QCOMPARE(m_session->agent().currencyExponent, 2);
    QVERIFY(m_session->money(1250, "EUR").contains("12"));
  }

  void refusalsAreShownInTheTillsLanguage() {
    auto refusal = [](const QString& id, const QJsonObject& params, const QString& english) {
      return QJsonObject{{"error", QJsonObject{{"code", "ERROR_CODE_INSUFFICIENT_POINTS"},
                                               {"message", english},
                                               {"message_id", id},
                                               {"params", params}}}};
    };
    const auto insufficient = refusal("points.insufficient", {{"available", "1500"}},
                                      "Not enough points: 1500 available.");
    QCOMPARE(errorMessage(insufficient),
             QString("Not enough points: %1 available.").arg(QLocale().toString(1500)));
    // An id this till does not know: the agent's English text.
    QCOMPARE(errorMessage(refusal("coupon.some_new_reason", {}, "A reason from a newer agent.")),
             QString("A reason from a newer agent."));
    // In German, with German numbers.
    QPluginLoader loader(ACCRUE_TILL_PLUGIN);
    QVERIFY(loader.instance());  // its resources hold the translations
    InGerman german;
    QVERIFY(german.loaded());
    QCOMPARE(errorMessage(insufficient), QString("Nicht genug Punkte: 1.500 verfügbar."));
    QCOMPARE(errorMessage(refusal("redeem.off_step", {{"step", "100"}}, "")),
             QString("In Schritten von 100 Punkten einlösen."));
    QCOMPARE(errorMessage(refusal("return.more_than_left",
                                  {{"line", "2"}, {"quantity", "1.5"}, {"left", "1"}}, "")),
             QString("Position 2: 1,5 zurückgegeben, nur noch 1 rückgabefähig."));
    QCOMPARE(errorMessage(refusal("coupon.used_here", {}, "")),
             QString("Dieser Gutschein wurde in dieser Filiale bereits eingelöst."));
  }

  // Real plural forms: the English translation carries them ("1 point", "2 points").
  void countsUseTheLanguagesPluralForms() {
    QPluginLoader loader(ACCRUE_TILL_PLUGIN);
    QVERIFY(loader.instance());
    QTranslator en;
    QVERIFY(en.load(QLocale(QLocale::English), "accrue_till", "_", ":/accrue/i18n"));
    QCoreApplication::installTranslator(&en);
    const char* ctx = "accrue::till::LoyaltyPanel";
    QCOMPARE(QCoreApplication::translate(ctx, "%1 points", nullptr, 1).arg(1), QString("1 point"));
    QCOMPARE(QCoreApplication::translate(ctx, "%1 points", nullptr, 2).arg(2), QString("2 points"));
    QCOMPARE(QCoreApplication::translate(ctx, "%1 events waiting.", nullptr, 1).arg(1),
             QString("1 event waiting."));
    QCoreApplication::removeTranslator(&en);
  }

  void theRedeemDialogProposesTheLargestAmountWithItsDiscount() {
    makePanel();
    m_session->refreshAgentStatus();
    // A member with a few hundred points (the seeded balances vary).
    for (int member = 30; member < 90; ++member) {
      if (member == kBlocked) continue;
      identifyMember(member);
      QTRY_VERIFY_WITH_TIMEOUT(
          m_panel->redeemButton()->isEnabled() || m_session->member().availablePoints < 100, 3000);
      if (m_session->member().redeemable.maxPoints >= 300) break;
    }
    QVERIFY2(m_session->member().redeemable.maxPoints >= 300, "no seeded member to redeem with");
    const Member m = m_session->member();
    const RedeemOffer& offer = m.redeemable;
    // In the programme's steps, never more than she has (nor than the store grants offline).
    QCOMPARE(offer.stepPoints, 100);
    QCOMPARE(offer.maxPoints % offer.stepPoints, 0);
    QVERIFY(offer.maxPoints <= m.availablePoints);
    QVERIFY(m.availablePoints - offer.maxPoints < 100 || offer.maxPoints == 2000);
    QCOMPARE(offer.discountFor(offer.maxPoints), offer.maxDiscountMinor);
    m_panel->openRedeem();
    RedeemDialog* dialog = m_panel->redeemDialog();
    QVERIFY(dialog);
    QCOMPARE(qint64(dialog->pointsBox()->value()), offer.maxPoints);
    QCOMPARE(dialog->discountLabel()->text(),
             QString("Discount: %1").arg(m_session->money(offer.maxDiscountMinor, "EUR")));
    // Off the step: Enter does nothing and the dialog says why.
    dialog->pointsBox()->setValue(150);
    QVERIFY(!dialog->redeemButton()->isEnabled());
    QVERIFY(dialog->discountLabel()->text().contains("steps of 100"));
    dialog->pointsBox()->setValue(100);
    QVERIFY(dialog->redeemButton()->isEnabled());
    QCOMPARE(dialog->discountLabel()->text(),
             QString("Discount: %1").arg(m_session->money(offer.discountFor(100), "EUR")));
    QSignalSpy redeemed(m_session.get(), &TillSession::redeemed);
    QTest::keyClick(dialog->pointsBox(), Qt::Key_Return);
    QVERIFY(redeemed.wait(5000));
    QCOMPARE(redeemed.first().at(1).toLongLong(), 100);
    QCOMPARE(redeemed.first().at(2).toLongLong(), offer.discountFor(100));
    // The offer follows the points she has left.
    QTRY_VERIFY_WITH_TIMEOUT(
        m_session->member().redeemable.maxPoints <= m_session->member().availablePoints, 3000);
  }

  // A common till screen is 1024x768: the demo till hosting the plugin fits it with nothing
  // cut off or squeezed, a member shown; and the panel at the width the demo gives it, in German
  // (longer words).
  void theDemoTillFitsA1024x768Screen() {
    QPluginLoader loader(ACCRUE_TILL_PLUGIN);
    auto* loyalty = qobject_cast<TillLoyaltyInterface*>(loader.instance());
    QVERIFY(loyalty);
    TillWindow window(loyalty, "till-fit");
    loyalty->connectToAgent(socket(), "till-fit");
    window.resize(1024, 768);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // The plugin's own classes: found by name, as a host would.
    auto* panel = window.findChild<QWidget*>("accrueLoyaltyPanel");
    QVERIFY(panel);
    auto* edit = panel->findChild<QLineEdit*>("accrueIdentify");
    QVERIFY(edit);
    QSignalSpy identified(loyalty->signalSource(), SIGNAL(customerIdentified(QString, QString)));
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
          edit->setText(card(5));
          QTest::keyClick(edit, Qt::Key_Return);
          return identified.wait(500);
        }(),
        5000);
    QTest::qWait(300);  // the profile and the preview
    QVERIFY(window.width() <= 1024 && window.height() <= 768);
    expectNothingClipped(&window);
    if (QTest::currentTestFailed()) return;
    shoot("demo-1024x768", &window);
    loyalty->clearCustomer();

    InGerman german;
    QVERIFY(german.loaded());
    makePanel();
    m_panel->resize(panel->width(), panel->height());
    m_session->refreshAgentStatus();
    identifyMember(5);
    QTest::qWait(300);
    expectNothingClipped(m_panel.get());
    if (QTest::currentTestFailed()) return;
    shoot("panel-de", m_panel.get());
    m_panel.reset();
  }

  void theGermanTranslationIsShipped() {
    QTranslator de;
    QPluginLoader loader(ACCRUE_TILL_PLUGIN);
    QVERIFY(loader.instance());  // its resources hold the translation
    QVERIFY(de.load(QLocale(QLocale::German), "accrue_till", "_", ":/accrue/i18n"));
    QCOMPARE(de.translate("accrue::till::LoyaltyPanel", "No customer"), QString("Kein Kunde"));
  }

  // Her rewards, asked for when she is identified: each with its cost, and why she cannot claim
  // it yet in the till's words (this store offline: by its replica's facts).
  void herRewardsShowWhatSheMayClaimAndWhyNot() {
    makePanel();
    identifyMember(1);  // bronze, 37 points
    QTRY_COMPARE_WITH_TIMEOUT(m_session->rewards().size(), 3, 3000);
    const auto& r = m_session->rewards();
    QCOMPARE(r[0].rewardId, QString("double-points"));
    QCOMPARE(r[1].rewardId, QString("five-off"));
    QCOMPARE(r[1].costPoints, 100);
    QVERIFY(!r[1].claimable);
    QCOMPARE(r[1].whyNot, QString("Not enough points: %1 available.").arg(QLocale().toString(37)));
    QCOMPARE(r[2].whyNot, QString("This reward is for members of another tier."));
    m_panel->openCoupon();
    QVERIFY(m_panel->couponDialog());
    QCOMPARE(m_panel->couponDialog()->rewardList()->count(), 3);
    QVERIFY(m_panel->couponDialog()->rewardList()->item(2)->text().contains("another tier"));
    // Another customer: hers go, the next member's come.
    m_session->clear();
    QVERIFY(m_session->rewards().isEmpty());
    QCOMPARE(m_panel->couponDialog()->rewardList()->count(), 1);  // "Identify the member..."
  }

  // Coupons against a store online with a real accrue-cloud, which issues them (head office
  // claims a reward for the member): applied with its discount, refused with the till's reason
  // (a basket below the reward's minimum, a forged code, a second use), taken off the sale and
  // given back when the sale is not paid, a scanned code applied through the identify field,
  // and a points multiplier counted in the sale's points. Needs the test PostgreSQL.
  void aCouponIsAppliedRefusedAndGivenBack() {
    accrue::testing::AgentProcess agent(kMembers, "packaging/demo/program.json", "S-coupon");
    std::unique_ptr<accrue::testing::OnlineCloud> cloud;
    if (!goOnline(agent, "S-coupon", cloud)) return;
    identifyMember(12);
    std::string why;
    const std::string customer = m_session->member().customerId.toStdString();
    const QString fiveOff = QString::fromStdString(cloud->claim(customer, "five-off", why));
    QVERIFY2(!fiveOff.isEmpty(), why.c_str());
    const QString twice = QString::fromStdString(cloud->claim(customer, "double-points", why));
    QVERIFY2(!twice.isEmpty(), why.c_str());
    QVERIFY(looksLikeCoupon(fiveOff));

    // Below the reward's minimum basket (20.00 EUR): refused, in the dialog and on the panel.
    m_session->setBasket(basket("sale-coupon-1", 1000));
    m_panel->openCoupon();
    QVERIFY(m_panel->couponDialog());
    QSignalSpy refused(m_session.get(), &TillSession::couponRefused);
    m_panel->couponDialog()->codeEdit()->setText(fiveOff);
    QTest::keyClick(m_panel->couponDialog()->codeEdit(), Qt::Key_Return);
    QVERIFY(refused.wait(8000));
    const QString below = money20();
    QCOMPARE(refused.first().at(0).toString(),
             QString("This coupon needs a basket of at least %1.").arg(below));
    QCOMPARE(m_panel->couponDialog()->messageLabel()->text(), refused.first().at(0).toString());
    QVERIFY(m_panel->couponDialog()->isVisible());
    QVERIFY(m_session->coupons().isEmpty());
    shoot("coupon-refused", m_panel->couponDialog());

    // A basket that qualifies: 5.00 EUR off, the dialog closes, the panel lists it.
    m_session->setBasket(basket("sale-coupon-1", 10000));
    QSignalSpy applied(m_session.get(), &TillSession::couponApplied);
    QTest::mouseClick(m_panel->couponDialog()->applyButton(), Qt::LeftButton);
    QVERIFY(applied.wait(8000));
    QCOMPARE(applied.first().at(0).toString(), QString("sale-coupon-1"));
    const auto coupon = applied.first().at(1).value<AppliedCoupon>();
    QCOMPARE(coupon.discountMinor, 500);
    QCOMPARE(coupon.currency, QString("EUR"));
    QVERIFY(!coupon.offline);  // the cloud decided it while the till waited
    QTRY_VERIFY_WITH_TIMEOUT(!m_panel->couponDialog()->isVisible(), 2000);
    QCOMPARE(m_session->coupons().size(), 1);
    QVERIFY(m_panel->couponsLabel()->text().contains(coupon.rewardName));
    shoot("coupon");

    // The same coupon again: used already.
    refused.clear();
    m_session->applyCoupon(fiveOff);
    QVERIFY(refused.wait(8000));
    QVERIFY2(refused.first().at(0).toString().contains("already been used"),
             qPrintable(refused.first().at(0).toString()));
    QCOMPARE(m_panel->messageLabel()->text(), refused.first().at(0).toString());

    // A forged code (one character of the signature changed): not valid.
    QString forged = fiveOff;
    const int at = forged.size() - 10;
    forged[at] = forged[at] == QChar('A') ? QChar('B') : QChar('A');
    refused.clear();
    m_session->applyCoupon(forged);
    QVERIFY(refused.wait(8000));
    QCOMPARE(refused.first().at(0).toString(), QString("This coupon is not valid."));

    // Taken off the sale: given back, so it applies again.
    QSignalSpy removed(m_session.get(), &TillSession::couponRemoved);
    m_session->removeCoupon(coupon.posTxId);
    QVERIFY(removed.wait(8000));
    QVERIFY(m_session->coupons().isEmpty());
    // (Online, the cloud hears of the void with the next upload, at once: wait for it.)
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
          m_session->refreshAgentStatus();
          QTest::qWait(100);
          return m_session->agent().queuedEvents == 0;
        }(),
        10000);
    applied.clear();
    refused.clear();
    m_session->applyCoupon(fiveOff);
    QVERIFY2(applied.wait(8000), qPrintable(refused.isEmpty() ? QString("no answer")
                                                              : refused.first().at(0).toString()));
    // The sale is cleared without being paid: the coupon goes back to her.
    removed.clear();
    m_session->clearBasket();
    QVERIFY(removed.wait(8000));
    QCOMPARE(removed.first().at(1).value<AppliedCoupon>().couponId, coupon.couponId);

    // A scanned code in the identify field is applied, not looked up; with the double-points
    // coupon on it, the paid sale earns twice its base points.
    m_session->setBasket(basket("sale-coupon-2", 10000));
    QTRY_VERIFY_WITH_TIMEOUT(m_session->previewPoints() > 0, 3000);
    const qint64 preview = m_session->previewPoints();
    applied.clear();
    m_panel->identifyEdit()->setText(twice);
    QTest::keyClick(m_panel->identifyEdit(), Qt::Key_Return);
    QVERIFY(applied.wait(8000));
    QCOMPARE(applied.first().at(1).value<AppliedCoupon>().pointsMultiplierBp, 20000);
    QCOMPARE(m_session->state(), TillSession::State::Member);  // still her
    QSignalSpy accrued(m_session.get(), &TillSession::accrued);
    QVERIFY(m_session->completeSale());
    QVERIFY(accrued.wait(8000));
    QVERIFY2(
        accrued.first().at(1).toLongLong() > preview,
        qPrintable(
            QString("%1 points, preview %2").arg(accrued.first().at(1).toLongLong()).arg(preview)));
    QVERIFY(m_session->coupons().isEmpty());
    // Paid: clearing gives nothing back.
    removed.clear();
    m_session->clear();
    QTest::qWait(300);
    QCOMPARE(removed.count(), 0);
    m_panel.reset();
    m_session.reset();
    m_connection.reset();
  }

  // A reward claimed at the till from the coupon dialog, against a store online with a real
  // accrue-cloud: the cloud books its cost and signs the coupon, which goes on the sale; a claim
  // refused says why in the dialog. Needs the test PostgreSQL.
  void aRewardIsClaimedAtTheTillAndItsCouponGoesOnTheSale() {
    accrue::testing::AgentProcess agent(kMembers, "packaging/demo/program.json", "S-claim");
    std::unique_ptr<accrue::testing::OnlineCloud> cloud;
    if (!goOnline(agent, "S-claim", cloud)) return;
    identifyMember(12);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->rewards().size(), 3, 3000);
    const qint64 before = m_session->member().availablePoints;
    QVERIFY2(before >= 100, qPrintable(QString::number(before)));
    m_session->setBasket(basket("sale-claim-1", 10000));
    m_panel->openCoupon();
    auto* dialog = m_panel->couponDialog();
    QVERIFY(dialog);
    QVERIFY(!dialog->claimButton()->isEnabled());  // nothing picked yet
    int row = -1;
    for (int i = 0; i < dialog->rewardList()->count(); ++i) {
      if (dialog->rewardList()->item(i)->data(Qt::UserRole).toString() == "five-off") row = i;
    }
    QVERIFY(row >= 0);
    dialog->rewardList()->setCurrentRow(row);
    QVERIFY(dialog->claimButton()->isEnabled());
    shoot("claim", dialog);
    QSignalSpy claimed(m_session.get(), &TillSession::rewardClaimed);
    QSignalSpy applied(m_session.get(), &TillSession::couponApplied);
    QTest::mouseClick(dialog->claimButton(), Qt::LeftButton);
    QVERIFY(claimed.wait(8000));
    const auto claim = claimed.first().at(0).value<ClaimedReward>();
    QCOMPARE(claim.rewardId, QString("five-off"));
    QCOMPARE(claim.costPoints, 100);
    QVERIFY(!claim.offline);
    QVERIFY(looksLikeCoupon(claim.code));
    // Its coupon goes on the sale in progress: 5.00 EUR off, and the dialog closes.
    QVERIFY(applied.count() == 1 || applied.wait(8000));
    QCOMPARE(m_session->coupons().size(), 1);
    QCOMPARE(m_session->coupons().first().couponId, claim.couponId);
    QCOMPARE(m_session->coupons().first().discountMinor, 500);
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isVisible(), 2000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->member().availablePoints, before - 100, 3000);

    // A reward the store's programme does not have (a host's stale list): the till's reason, in
    // the dialog.
    m_panel->openCoupon();
    dialog = m_panel->couponDialog();
    QSignalSpy refused(m_session.get(), &TillSession::claimRefused);
    m_session->claimReward("no-such-reward");
    QVERIFY(refused.wait(8000));
    QCOMPARE(refused.first().at(0).toString(),
             QString("This reward is not in the programme this store runs."));
    QCOMPARE(dialog->messageLabel()->text(), refused.first().at(0).toString());
    m_panel.reset();
    m_session.reset();
    m_connection.reset();
  }

  // The offline look: this agent has no cloud.
  void screenshotOffline() {
    makePanel();
    m_panel->resize(420, 560);
    identifyMember(12);
    m_session->refreshAgentStatus();
    QTRY_VERIFY_WITH_TIMEOUT(!m_panel->bannerLabel()->text().isEmpty(), 3000);
    shoot("offline");
  }

  // Every state of a store that is online: an agent synced with a real accrue-cloud (needs the
  // test PostgreSQL; skipped without it).
  void screenshotsOfEachState() {
    accrue::testing::AgentProcess agent(kMembers, "packaging/demo/program.json", "S-online");
    std::unique_ptr<accrue::testing::OnlineCloud> cloud;
    if (!goOnline(agent, "S-online", cloud)) return;
    QVERIFY(m_panel->bannerLabel()->text().isEmpty());
    shoot("idle");
    identifyMember(12);
    m_session->setBasket(basket("sale-shot"));
    QTRY_VERIFY_WITH_TIMEOUT(m_session->previewPoints() > 0, 3000);
    shoot("member");
    m_session->identify(guessIdentifier(card(kBlocked), Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Blocked, 3000);
    shoot("blocked");
    m_session->identify(guessIdentifier("6000999999999998", Entry::Scanned));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), TillSession::State::Unknown, 3000);
    shoot("unknown");
    m_panel->openEnroll();
    QVERIFY(m_panel->enrollDialog());
    m_panel->enrollDialog()->nameEdit()->setText("Ada");
    m_panel->enrollDialog()->termsBox()->setChecked(true);
    shoot("enroll", m_panel->enrollDialog());
    m_panel->enrollDialog()->reject();
    identifyMember(12);
    QTRY_VERIFY_WITH_TIMEOUT(m_panel->redeemButton()->isEnabled(), 3000);
    m_panel->openRedeem();
    QVERIFY(m_panel->redeemDialog());
    shoot("redeem", m_panel->redeemDialog());
    m_panel->redeemDialog()->reject();
    m_panel.reset();
    m_session.reset();
    m_connection.reset();
  }

 private:
  QString socket() const { return QString::fromStdString(m_agent->socket()); }
  // `agent` synced with a real accrue-cloud for `store` (needs the test PostgreSQL: skipped
  // without it), a session on its socket once it is online, and the panel at 420x560. False when
  // the test cannot go on (skipped or failed).
  bool goOnline(accrue::testing::AgentProcess& agent, const char* store,
                std::unique_ptr<accrue::testing::OnlineCloud>& cloud) {
    [&] {
      QCOMPARE(agent.seed_status(), 0);
      std::string why;
      cloud = accrue::testing::OnlineCloud::start(agent.dir(), store, kMembers, why);
      if (!cloud) {
        if (qEnvironmentVariableIsSet("ACCRUE_REQUIRE_SERVICES")) QFAIL(why.c_str());
        QSKIP(why.c_str());
      }
      QVERIFY(agent.start({"--config", cloud->agent_config()}));
      connectTo(QString::fromStdString(agent.socket()));
      makePanel();
      m_panel->resize(420, 560);
    }();
    return !QTest::currentTestFailed() && cloud && m_panel;
  }
  // A new session on another agent's socket, once that agent is online.
  void connectTo(const QString& path) {
    m_panel.reset();
    m_session.reset();
    m_connection = std::make_unique<AgentConnection>();
    m_session = std::make_unique<TillSession>(m_connection.get());
    m_session->setTillId("till-qt");
    m_session->setRetryDelay(500);
    m_connection->connectTo(path);
    QTRY_VERIFY_WITH_TIMEOUT(m_connection->isConnected(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
          m_session->refreshAgentStatus();
          QTest::qWait(100);
          return m_session->agent().online;
        }(),
        15000);
  }
  // 20.00 EUR as this till shows it.
  QString money20() const { return m_session->money(2000, "EUR"); }
  void identifyMember(int member) {
    QSignalSpy identified(m_session.get(), &TillSession::identified);
    m_session->identify(guessIdentifier(card(member), Entry::Scanned));
    QVERIFY(identified.wait(3000));
  }
  void makePanel() {
    m_panel = std::make_unique<LoyaltyPanel>(m_session.get());
    m_panel->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_panel.get()));
    m_panel->activateWindow();
    m_panel->identifyEdit()->setFocus();
  }
  // Every visible label, button and field inside `top` lies within it and is at least as big as
  // its text needs: nothing cut off at the edge, nothing squeezed, no wrapped text taller than
  // its row.
  static void expectNothingClipped(QWidget* top) {
    const QRect area = top->rect();
    for (QWidget* w : top->findChildren<QWidget*>()) {
      if (!w->isVisibleTo(top)) continue;
      const bool label = qobject_cast<QLabel*>(w), button = qobject_cast<QPushButton*>(w);
      if (!label && !button && !qobject_cast<QLineEdit*>(w)) continue;
      const QString text = label    ? static_cast<QLabel*>(w)->text()
                           : button ? static_cast<QPushButton*>(w)->text()
                                    : QString();
      const QString what =
          w->metaObject()->className() + QString(" ") + w->objectName() + " '" + text + "'";
      const QRect at(w->mapTo(top, QPoint(0, 0)), w->size());
      QVERIFY2(area.contains(at), qPrintable(what + " is cut off at the window's edge"));
      if (button) {
        QVERIFY2(w->width() >= w->sizeHint().width(), qPrintable(what + " is squeezed"));
      }
      if (auto* l = qobject_cast<QLabel*>(w); l && !l->text().isEmpty()) {
        const int width = l->contentsRect().width();
        if (l->wordWrap()) {
          QVERIFY2(l->heightForWidth(l->width()) <= l->height(),
                   qPrintable(what + " wraps taller than its row"));
        } else {
          QVERIFY2(l->fontMetrics().horizontalAdvance(l->text()) <= width,
                   qPrintable(what + " is wider than its place"));
        }
      }
    }
  }

  void shoot(const QString& name, QWidget* w = nullptr) {
    QTest::qWait(50);  // let the style repolish
    const QImage image = (w ? w : m_panel.get())->grab().toImage();
    QVERIFY(!image.isNull());
    const QByteArray dir = qgetenv("ACCRUE_SCREENSHOT_DIR");
    if (!dir.isEmpty()) QVERIFY(image.save(QString(dir) + "/till-" + name + ".png"));
  }

  std::unique_ptr<accrue::testing::AgentProcess> m_agent;
  std::unique_ptr<AgentConnection> m_connection;
  std::unique_ptr<TillSession> m_session;
  std::unique_ptr<LoyaltyPanel> m_panel;
};

QTEST_MAIN(TillSessionTest)
#include "till_session_test.moc"
