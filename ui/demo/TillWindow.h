// The demo till's window: a sample catalogue, the basket, the total and Pay, with the loyalty
// panel beside them. Everything loyalty goes through TillLoyaltyInterface.
#pragma once

#include <QHash>
#include <QMainWindow>

#include "accrue/till/TillLoyaltyInterface.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QTableWidget;

class TillWindow : public QMainWindow {
  Q_OBJECT

 public:
  TillWindow(accrue::till::TillLoyaltyInterface* loyalty, QString tillId,
             QWidget* parent = nullptr);

 private slots:
  void addLoyaltyDiscount(const QString& saleId, qlonglong discountMinor, const QString& currency,
                          qlonglong points);
  void pointsAccrued(const QString& saleId, qlonglong points);
  void couponApplied(const QString& saleId, const QString& couponId, const QString& rewardName,
                     qlonglong discountMinor, const QString& currency, int freeLineNo,
                     const QString& gift);
  void couponRemoved(const QString& saleId, const QString& couponId, qlonglong discountMinor,
                     const QString& currency);

 private:
  struct Item {
    QString sku, name;
    QStringList categories;
    qint64 priceMinor;
  };
  void addItem(const Item& item);
  void pay();
  void newSale();
  void refreshTotals();

  accrue::till::TillLoyaltyInterface* m_loyalty;
  QString m_tillId;
  QList<Item> m_catalogue;
  accrue::till::Basket m_basket;
  qint64 m_discountMinor = 0;
  QHash<QString, qint64> m_couponDiscounts;  // by coupon id: what each took off this sale
  int m_saleNo = 0;
  QListWidget* m_catalogueList;
  QLineEdit* m_scan;
  QTableWidget* m_lines;
  QLabel* m_total;
  QLabel* m_receipt;
};
