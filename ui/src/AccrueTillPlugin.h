// The loadable plugin: implements the host interface over a TillSession, its AgentConnection
// and the LoyaltyPanel, and installs the panel's translation for the host's locale.
#pragma once

#include <QObject>
#include <QPointer>
#include <QTranslator>

#include "AgentConnection.h"
#include "TillSession.h"
#include "accrue/till/TillLoyaltyInterface.h"

namespace accrue::till {

class LoyaltyPanel;

class AccrueTillPlugin : public QObject, public TillLoyaltyInterface {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID AccrueTillLoyaltyInterface_iid FILE "accrue_till.json")
  Q_INTERFACES(accrue::till::TillLoyaltyInterface)

 public:
  AccrueTillPlugin();
  ~AccrueTillPlugin() override;

  QWidget* createPanel(QWidget* parent) override;
  void connectToAgent(const QString& socketPath, const QString& tillId) override;
  void setBasket(const Basket& basket) override;
  void clearBasket() override;
  void completeSale() override;
  void returnItems(const QString& returnId, const QString& originalSaleId,
                   const QList<ReturnLine>& lines) override;
  void clearCustomer() override;
  QObject* signalSource() override { return this; }
  void applyCoupon(const QString& code) override;

 signals:
  void customerIdentified(const QString& customerId, const QString& displayName);
  void customerCleared();
  void pointsAccrued(const QString& saleId, qlonglong points);
  void redemptionApplied(const QString& saleId, qlonglong discountMinor, const QString& currency,
                         qlonglong points);
  void couponApplied(const QString& saleId, const QString& couponId, const QString& rewardName,
                     qlonglong discountMinor, const QString& currency, int freeLineNo,
                     const QString& gift);
  void couponRemoved(const QString& saleId, const QString& couponId, qlonglong discountMinor,
                     const QString& currency);
  void pointsReversed(const QString& returnId, qlonglong points);
  void errorOccurred(const QString& message);

 private:
  AgentConnection m_connection;
  TillSession m_session;
  QTranslator m_translator;
  bool m_translatorInstalled = false;
  QPointer<LoyaltyPanel> m_panel;
};

}  // namespace accrue::till
