#include "AccrueTillPlugin.h"

#include <QCoreApplication>
#include <QLocale>

#include "LoyaltyPanel.h"

namespace accrue::till {

AccrueTillPlugin::AccrueTillPlugin() : m_session(&m_connection) {
  // The panel speaks the host's language when the plugin ships it (":/accrue/i18n").
  if (m_translator.load(QLocale(), "accrue_till", "_", ":/accrue/i18n")) {
    m_translatorInstalled = QCoreApplication::installTranslator(&m_translator);
  }
  connect(&m_session, &TillSession::identified, this, &AccrueTillPlugin::customerIdentified);
  connect(&m_session, &TillSession::cleared, this, &AccrueTillPlugin::customerCleared);
  connect(&m_session, &TillSession::accrued, this,
          [this](const QString& sale, qint64 pts) { emit pointsAccrued(sale, pts); });
  connect(&m_session, &TillSession::redeemed, this,
          [this](const QString& sale, qint64 pts, qint64 minor, const QString& currency) {
            emit redemptionApplied(sale, minor, currency, pts);
          });
  connect(&m_session, &TillSession::couponApplied, this,
          [this](const QString& sale, const AppliedCoupon& c) {
            emit couponApplied(sale, c.couponId, c.rewardName, c.discountMinor, c.currency,
                               c.freeLineNo, c.gift);
          });
  connect(&m_session, &TillSession::couponRemoved, this,
          [this](const QString& sale, const AppliedCoupon& c) {
            emit couponRemoved(sale, c.couponId, c.discountMinor, c.currency);
          });
  connect(&m_session, &TillSession::returned, this,
          [this](const QString& id, qint64 pts) { emit pointsReversed(id, pts); });
  // A refused accrual is reported through errorOccurred too (TillSession::fail): once.
  connect(&m_session, &TillSession::errorOccurred, this, &AccrueTillPlugin::errorOccurred);
}

AccrueTillPlugin::~AccrueTillPlugin() {
  if (m_translatorInstalled) QCoreApplication::removeTranslator(&m_translator);
}

QWidget* AccrueTillPlugin::createPanel(QWidget* parent) {
  if (!m_panel) m_panel = new LoyaltyPanel(&m_session, parent);
  return m_panel;
}

void AccrueTillPlugin::connectToAgent(const QString& socketPath, const QString& tillId) {
  m_session.setTillId(tillId);
  m_connection.connectTo(socketPath);
}

void AccrueTillPlugin::setBasket(const Basket& basket) { m_session.setBasket(basket); }
void AccrueTillPlugin::clearBasket() { m_session.clearBasket(); }
void AccrueTillPlugin::completeSale() { m_session.completeSale(); }
void AccrueTillPlugin::returnItems(const QString& returnId, const QString& originalSaleId,
                                   const QList<ReturnLine>& lines) {
  m_session.returnItems(returnId, originalSaleId, lines);
}
void AccrueTillPlugin::clearCustomer() { m_session.clear(); }
void AccrueTillPlugin::applyCoupon(const QString& code) { m_session.applyCoupon(code); }

}  // namespace accrue::till
