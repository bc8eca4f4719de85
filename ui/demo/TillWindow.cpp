#include "TillWindow.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QPushButton>
#include <QShortcut>
#include <QTableWidget>
#include <QVBoxLayout>

namespace {
QString money(qint64 minor) { return QLocale().toCurrencyString(double(minor) / 100.0, "EUR"); }
}  // namespace

TillWindow::TillWindow(accrue::till::TillLoyaltyInterface* loyalty, QString tillId, QWidget* parent)
    : QMainWindow(parent), m_loyalty(loyalty), m_tillId(std::move(tillId)) {
  setWindowTitle(tr("Demo till %1").arg(m_tillId));
  m_catalogue = {{"4006381333931", tr("Running shoes"), {"shoes", "shoes/running"}, 8999},
                 {"4006381333948", tr("Trail socks"), {"apparel", "apparel/socks"}, 1299},
                 {"4006381333955", tr("Rain jacket"), {"apparel", "apparel/outerwear"}, 12900},
                 {"4006381333962", tr("Water bottle"), {"accessories"}, 1599},
                 {"4006381333979", tr("Energy bar"), {"food"}, 249}};
  auto* central = new QWidget(this);
  auto* outer = new QHBoxLayout(central);
  auto* sale = new QVBoxLayout;
  m_scan = new QLineEdit(central);
  m_scan->setPlaceholderText(tr("Scan an item (EAN) and press Enter"));
  m_scan->setMinimumHeight(44);
  m_catalogueList = new QListWidget(central);
  for (const auto& item : m_catalogue) {
    m_catalogueList->addItem(
        QString("%1   %2   %3").arg(item.sku, item.name, money(item.priceMinor)));
  }
  m_lines = new QTableWidget(0, 3, central);
  m_lines->setHorizontalHeaderLabels({tr("Item"), tr("Qty"), tr("Amount")});
  m_lines->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  m_lines->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_total = new QLabel(central);
  m_total->setStyleSheet("font-size: 22px; font-weight: bold;");
  m_receipt = new QLabel(central);
  auto* payButton = new QPushButton(tr("Pay (F12)"), central);
  payButton->setMinimumHeight(48);
  sale->addWidget(m_scan);
  sale->addWidget(m_catalogueList, 1);
  sale->addWidget(m_lines, 2);
  sale->addWidget(m_total);
  sale->addWidget(payButton);
  sale->addWidget(m_receipt);
  outer->addLayout(sale, 5);
  outer->addWidget(m_loyalty->createPanel(central), 4);
  setCentralWidget(central);
  resize(1024, 720);  // a common till screen is 1024x768

  connect(m_catalogueList, &QListWidget::itemActivated, this,
          [this](QListWidgetItem* it) { addItem(m_catalogue.at(m_catalogueList->row(it))); });
  connect(m_scan, &QLineEdit::returnPressed, this, [this] {
    for (const auto& item : m_catalogue) {
      if (item.sku == m_scan->text().trimmed()) addItem(item);
    }
    m_scan->clear();
  });
  connect(payButton, &QPushButton::clicked, this, &TillWindow::pay);
  auto* payKey = new QShortcut(QKeySequence(Qt::Key_F12), this);
  connect(payKey, &QShortcut::activated, this, &TillWindow::pay);
  QObject::connect(m_loyalty->signalSource(),
                   SIGNAL(redemptionApplied(QString, qlonglong, QString, qlonglong)), this,
                   SLOT(addLoyaltyDiscount(QString, qlonglong, QString, qlonglong)));
  QObject::connect(m_loyalty->signalSource(), SIGNAL(pointsAccrued(QString, qlonglong)), this,
                   SLOT(pointsAccrued(QString, qlonglong)));
  QObject::connect(
      m_loyalty->signalSource(),
      SIGNAL(couponApplied(QString, QString, QString, qlonglong, QString, int, QString)), this,
      SLOT(couponApplied(QString, QString, QString, qlonglong, QString, int, QString)));
  QObject::connect(m_loyalty->signalSource(),
                   SIGNAL(couponRemoved(QString, QString, qlonglong, QString)), this,
                   SLOT(couponRemoved(QString, QString, qlonglong, QString)));
  newSale();
}

void TillWindow::addItem(const Item& item) {
  accrue::till::BasketLine line;
  line.lineNo = int(m_basket.lines.size()) + 1;
  line.sku = item.sku;
  line.categories = item.categories;
  line.amountMinor = item.priceMinor;
  m_basket.lines.append(line);
  const int row = m_lines->rowCount();
  m_lines->insertRow(row);
  m_lines->setItem(row, 0, new QTableWidgetItem(item.name));
  m_lines->setItem(row, 1, new QTableWidgetItem("1"));
  m_lines->setItem(row, 2, new QTableWidgetItem(money(item.priceMinor)));
  m_loyalty->setBasket(m_basket);
  refreshTotals();
}

void TillWindow::addLoyaltyDiscount(const QString& saleId, qlonglong discountMinor, const QString&,
                                    qlonglong points) {
  if (saleId != m_basket.saleId) return;
  m_discountMinor += discountMinor;
  m_receipt->setText(tr("Loyalty: %1 points redeemed").arg(points));
  refreshTotals();
}

void TillWindow::couponApplied(const QString& saleId, const QString& couponId,
                               const QString& rewardName, qlonglong discountMinor, const QString&,
                               int freeLineNo, const QString& gift) {
  if (saleId != m_basket.saleId) return;
  qint64 off = discountMinor;
  for (const auto& l : m_basket.lines) {  // a free item: one unit of that line
    if (l.lineNo == freeLineNo) off += l.amountMinor * 1000 / qMax<qint64>(1, l.quantityMilli);
  }
  m_couponDiscounts.insert(couponId, off);
  m_discountMinor += off;
  m_receipt->setText(gift.isEmpty() ? tr("Coupon: %1").arg(rewardName)
                                    : tr("Coupon: %1 (hand over: %2)").arg(rewardName, gift));
  refreshTotals();
}

void TillWindow::couponRemoved(const QString& saleId, const QString& couponId, qlonglong,
                               const QString&) {
  if (saleId != m_basket.saleId) return;
  m_discountMinor -= m_couponDiscounts.take(couponId);
  refreshTotals();
}

void TillWindow::pointsAccrued(const QString& saleId, qlonglong points) {
  m_receipt->setText(tr("Receipt %1: %2 points earned").arg(saleId).arg(points));
}

void TillWindow::pay() {
  if (m_basket.lines.isEmpty()) return;
  m_loyalty->completeSale();  // points follow through pointsAccrued
  m_loyalty->clearCustomer();
  newSale();
}

void TillWindow::newSale() {
  ++m_saleNo;
  m_basket = accrue::till::Basket{};
  m_basket.currency = "EUR";
  m_basket.saleId = QString("%1-%2-%3")
                        .arg(m_tillId)
                        .arg(QDateTime::currentDateTime().toString("yyyyMMddhhmmss"))
                        .arg(m_saleNo);
  m_discountMinor = 0;
  m_couponDiscounts.clear();
  m_lines->setRowCount(0);
  m_loyalty->clearBasket();
  refreshTotals();
}

void TillWindow::refreshTotals() {
  qint64 total = 0;
  for (const auto& l : m_basket.lines) total += l.amountMinor;
  m_total->setText(m_discountMinor > 0 ? tr("Total %1  (loyalty discount %2)")
                                             .arg(money(qMax<qint64>(0, total - m_discountMinor)),
                                                  money(m_discountMinor))
                                       : tr("Total %1").arg(money(total)));
}
