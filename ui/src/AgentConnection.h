// The till's connection to accrue-agent: JSON lines over QLocalSocket (proto/README.md), fully
// asynchronous. Requests carry a request_id; answers are matched to it, each request has its
// own deadline, and a dropped connection is re-established with backoff (250 ms doubling to
// 5 s) for as long as the till runs. A request that cannot be answered (no connection, timeout,
// connection lost) gets a synthetic error response with code ERROR_CODE_UNAVAILABLE and
// retryable true, so callers handle one shape of failure.
//
// JSON lines keep the plugin free of any dependency beyond Qt inside the host's process (a POS
// application may well link its own protobuf).
#pragma once

#include <QHash>
#include <QJsonObject>
#include <QLocalSocket>
#include <QObject>
#include <QTimer>

#include <functional>

namespace accrue::till {

class AgentConnection : public QObject {
  Q_OBJECT

 public:
  using Callback = std::function<void(const QJsonObject& response)>;

  explicit AgentConnection(QObject* parent = nullptr);
  ~AgentConnection() override;

  void connectTo(const QString& socketPath);
  void disconnectFromAgent();
  bool isConnected() const;

  // Sends `request` (an accrue.pos.v1.Request without request_id) and calls `done` exactly
  // once, on this object's thread, with the response or a synthetic UNAVAILABLE error. With no
  // connection, fails at once (on the next event loop turn).
  void send(QJsonObject request, int timeoutMs, Callback done);

  // How many requests are waiting for an answer.
  int pendingCount() const { return int(m_pending.size()); }

  static constexpr qint64 kMaxLineBytes = 1 << 20;

 signals:
  void connectedChanged(bool connected);

 private:
  struct Pending {
    Callback done;
    qint64 deadlineMs = 0;
  };
  void onReadyRead();
  void onDisconnected();
  void scheduleReconnect();
  void tryConnect();
  void expire();
  void failAll(const QString& message);
  void finish(const QString& id, const QJsonObject& response);
  static QJsonObject unavailable(const QString& message);

  QLocalSocket m_socket;
  QString m_path;
  QByteArray m_buffer;
  QHash<QString, Pending> m_pending;
  QTimer m_reconnect;
  QTimer m_deadlines;
  int m_backoffMs = 250;
  quint64 m_nextId = 1;
  bool m_wanted = false;
};

// A JSON value the agent writes as an int64 (proto3 JSON: a string) or a number.
qint64 int64Of(const QJsonValue& v);

}  // namespace accrue::till
