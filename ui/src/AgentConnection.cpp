#include "AgentConnection.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonParseError>

namespace accrue::till {

namespace {
qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }
}  // namespace

qint64 int64Of(const QJsonValue& v) {
  if (v.isString()) return v.toString().toLongLong();
  if (v.isDouble()) return qint64(v.toDouble());
  return 0;
}

AgentConnection::AgentConnection(QObject* parent) : QObject(parent) {
  connect(&m_socket, &QLocalSocket::readyRead, this, &AgentConnection::onReadyRead);
  connect(&m_socket, &QLocalSocket::disconnected, this, &AgentConnection::onDisconnected);
  connect(&m_socket, &QLocalSocket::connected, this, [this] {
    m_reconnect.stop();
    m_backoffMs = 250;
    emit connectedChanged(true);
  });
  // A failed connect ends in UnconnectedState without disconnected(): either way, try again.
  connect(&m_socket, &QLocalSocket::stateChanged, this, [this](QLocalSocket::LocalSocketState s) {
    if (s == QLocalSocket::UnconnectedState) scheduleReconnect();
  });
  m_reconnect.setSingleShot(true);
  connect(&m_reconnect, &QTimer::timeout, this, &AgentConnection::tryConnect);
  m_deadlines.setInterval(50);
  connect(&m_deadlines, &QTimer::timeout, this, &AgentConnection::expire);
}

AgentConnection::~AgentConnection() {
  m_wanted = false;
  m_socket.disconnect(this);
  m_socket.abort();
}

void AgentConnection::connectTo(const QString& socketPath) {
  m_path = socketPath;
  m_wanted = true;
  m_backoffMs = 250;
  m_socket.abort();
  tryConnect();
}

void AgentConnection::disconnectFromAgent() {
  m_wanted = false;
  m_reconnect.stop();
  m_socket.abort();
  failAll(tr("Not connected to the loyalty service."));
}

bool AgentConnection::isConnected() const {
  return m_socket.state() == QLocalSocket::ConnectedState;
}

void AgentConnection::tryConnect() {
  if (!m_wanted || m_socket.state() != QLocalSocket::UnconnectedState) return;
  m_buffer.clear();
  m_socket.connectToServer(m_path);
}

void AgentConnection::scheduleReconnect() {
  if (!m_wanted || m_reconnect.isActive()) return;
  m_reconnect.start(m_backoffMs);
  m_backoffMs = qMin(m_backoffMs * 2, 5000);
}

void AgentConnection::onDisconnected() {
  failAll(tr("The connection to the loyalty service was lost."));
  emit connectedChanged(false);
}

void AgentConnection::send(QJsonObject request, int timeoutMs, Callback done) {
  const QString id = QString::number(m_nextId++);
  request.insert("request_id", id);
  if (timeoutMs > 0) request.insert("deadline_ms", timeoutMs);
  if (!isConnected()) {
    QMetaObject::invokeMethod(
        this,
        [done = std::move(done)] {
          done(unavailable(tr("The loyalty service is not reachable.")));
        },
        Qt::QueuedConnection);
    return;
  }
  m_pending.insert(id, Pending{std::move(done), nowMs() + qMax(timeoutMs, 1)});
  if (!m_deadlines.isActive()) m_deadlines.start();
  QByteArray line = QJsonDocument(request).toJson(QJsonDocument::Compact);
  line.append('\n');
  m_socket.write(line);
}

void AgentConnection::onReadyRead() {
  m_buffer.append(m_socket.readAll());
  for (;;) {
    const qsizetype nl = m_buffer.indexOf('\n');
    if (nl < 0) {
      if (m_buffer.size() > kMaxLineBytes) {
        // Not a conversation we can trust any more: start again.
        m_socket.abort();
      }
      return;
    }
    const QByteArray line = m_buffer.left(nl);
    m_buffer.remove(0, nl + 1);
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject()) continue;
    const QJsonObject response = doc.object();
    finish(response.value("request_id").toString(), response);
  }
}

void AgentConnection::finish(const QString& id, const QJsonObject& response) {
  auto it = m_pending.find(id);
  if (it == m_pending.end()) return;  // answered too late: the caller was already told
  Callback done = std::move(it->done);
  m_pending.erase(it);
  if (m_pending.isEmpty()) m_deadlines.stop();
  done(response);
}

void AgentConnection::expire() {
  const qint64 now = nowMs();
  QStringList late;
  for (auto it = m_pending.cbegin(); it != m_pending.cend(); ++it) {
    if (it->deadlineMs <= now) late.append(it.key());
  }
  for (const auto& id : late) {
    finish(id, unavailable(tr("The loyalty service did not answer in time.")));
  }
}

void AgentConnection::failAll(const QString& message) {
  const auto ids = m_pending.keys();
  for (const auto& id : ids) finish(id, unavailable(message));
}

QJsonObject AgentConnection::unavailable(const QString& message) {
  return QJsonObject{
      {"error",
       QJsonObject{{"code", "ERROR_CODE_UNAVAILABLE"}, {"message", message}, {"retryable", true}}}};
}

}  // namespace accrue::till
