// Accrue till loyalty: the interface a POS application compiles against to host the loyalty
// panel. Version 1.1 (1.0 plus coupons: applyCoupon and the coupon signals, appended so that a
// host built against 1.0 keeps working). This header needs Qt (Core, Widgets) and nothing else from
// Accrue.
//
// The plugin (libaccrue_till.so) talks to the store's accrue-agent over its local socket; all
// traffic is asynchronous, so no call below ever blocks the host's UI thread.
//
// Hosting it (see ui/demo for a whole till):
//
//   QPluginLoader loader("/usr/lib/accrue/libaccrue_till.so");
//   auto* loyalty = qobject_cast<accrue::till::TillLoyaltyInterface*>(loader.instance());
//   if (!loyalty) { /* loader.errorString() says why */ }
//   layout->addWidget(loyalty->createPanel(this));
//   loyalty->connectToAgent("/run/accrue/agent.sock", "till-07");
//   QObject::connect(loyalty->signalSource(),
//                    SIGNAL(redemptionApplied(QString,qlonglong,QString,qlonglong)),
//                    this, SLOT(addLoyaltyDiscount(QString,qlonglong,QString,qlonglong)));
//   ...
//   loyalty->setBasket(basket);          // whenever the sale changes: the panel previews points
//   loyalty->completeSale();             // once paid: the points are accrued
//   loyalty->clearCustomer();            // ready for the next customer
//
// Signals of signalSource() (connect by these signatures):
//   customerIdentified(QString customerId, QString displayName)
//       a member was identified (status active or provisional); never emitted for a blocked
//       or unknown identifier, which the panel shows instead.
//   customerCleared()
//   pointsAccrued(QString saleId, qlonglong points)
//       the sale's points are durably recorded by the agent (the receipt can print them).
//   redemptionApplied(QString saleId, qlonglong discountMinor, QString currency, qlonglong points)
//       the member spent `points`: put a discount of `discountMinor` (minor units of
//       `currency`) on the sale.
//   couponApplied(QString saleId, QString couponId, QString rewardName, qlonglong discountMinor,
//                 QString currency, int freeLineNo, QString gift)
//       a coupon was used on the sale: put a discount of `discountMinor` on it (0 for a gift or
//       a points multiplier), or make one unit of line `freeLineNo` free (0: none), or hand
//       `gift` over (empty: none). A points multiplier needs nothing from the host: the
//       plugin names it in the sale's accrual.
//   couponRemoved(QString saleId, QString couponId, qlonglong discountMinor, QString currency)
//       the cashier took the coupon off the sale, or the sale was cleared without being paid
//       (the coupon is given back to its holder): remove what couponApplied added.
//   pointsReversed(QString returnId, qlonglong points)
//       a return took back the points its items had earned.
//   errorOccurred(QString message)
//       something the host may want to log; the panel already shows it to the cashier.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <QtPlugin>

class QObject;
class QWidget;

namespace accrue::till {

struct BasketLine {
  int lineNo = 0;  // unique within the sale; returns refer to it
  QString sku;
  QStringList categories;       // e.g. {"shoes", "shoes/running"}: what earning rules match
  qint64 quantityMilli = 1000;  // 1000 = one unit
  qint64 amountMinor = 0;       // line total after discounts, in minor units
};

struct Basket {
  QString saleId;    // the POS transaction id; the same id on a retry is the same sale
  QString currency;  // ISO 4217, e.g. "EUR"
  QList<BasketLine> lines;
};

struct ReturnLine {
  int lineNo = 0;  // of the original sale
  qint64 quantityMilli = 1000;
};

class TillLoyaltyInterface {
 public:
  virtual ~TillLoyaltyInterface() = default;

  // The panel widget, owned by `parent`. Call once.
  virtual QWidget* createPanel(QWidget* parent) = 0;
  // Connects (and keeps reconnecting) to the agent's socket. `tillId` names this till in
  // every request.
  virtual void connectToAgent(const QString& socketPath, const QString& tillId) = 0;
  // The sale as it stands; the panel shows the points it would earn.
  virtual void setBasket(const Basket& basket) = 0;
  virtual void clearBasket() = 0;
  // The sale is paid: its points are accrued for the identified member (pointsAccrued
  // follows), and the coupons applied to it stay used (with or without a member). While the agent
  // cannot be reached the same request is retried, a second apart, for 300 attempts; then, or when
  // the agent refuses the sale, errorOccurred. Without a member, nothing happens.
  virtual void completeSale() = 0;
  // A return of items from an earlier sale of this store.
  virtual void returnItems(const QString& returnId, const QString& originalSaleId,
                           const QList<ReturnLine>& lines) = 0;
  // Forgets the customer and the basket: ready for the next one. Coupons applied to a sale
  // that was not paid are given back (couponRemoved).
  virtual void clearCustomer() = 0;
  // The QObject that emits the signals listed above.
  virtual QObject* signalSource() = 0;
  // Since 1.1. A coupon's code the host's own scanner read (the panel reads the ones scanned
  // into it itself): used on the sale as it stands, couponApplied follows, or the panel shows
  // why not. clearBasket() without completeSale() gives it back.
  virtual void applyCoupon(const QString& code) = 0;
};

}  // namespace accrue::till

#define AccrueTillLoyaltyInterface_iid "org.accrue.TillLoyalty/1.0"
Q_DECLARE_INTERFACE(accrue::till::TillLoyaltyInterface, AccrueTillLoyaltyInterface_iid)
