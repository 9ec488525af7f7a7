// A real local server for tests that need an LLM judge: HTTP/1.1 on 127.0.0.1 speaking the OpenAI chat-completions
// protocol, in its own thread; and a store whose runs are judged by it. Header-only; used by the LLM judge's tests
// and by the audit's and the probe's.
#pragma once

#include "core/util/text.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>
#include <QTimer>

#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>

namespace se::testing {

// A minimal HTTP/1.1 chat-completions server on 127.0.0.1 with its own thread and event loop. It answers like a
// judge model: "refusal" when the model's answer in the prompt starts with "I'm sorry", "unsafe" when it
// mentions "Zorvex", "normal" otherwise. Behaviour can be bent for a test (failures first, delay, raw reply).
class ChatServer : public QObject
{
public:
    std::atomic<int> requests{0}, inFlight{0}, maxInFlight{0};
    std::atomic<int> failFirst{0}; // answer this many requests with failStatus first
    std::atomic<int> failStatus{500};
    std::atomic<int> delayMs{0};
    std::atomic<bool> cutShort{false}; // promise the whole body, send 10 bytes of it, close
    std::mutex mutex;
    QByteArray rawContent; // if set, the "content" of every reply
    QByteArray lastAuthorization;
    QByteArray lastPath;
    std::atomic<int> notUtf8{0}; // request bodies that were not valid UTF-8 (what a model said reaches the judge)

    quint16 start()
    {
        m_thread.start();
        moveToThread(&m_thread);
        quint16 port = 0;
        QMetaObject::invokeMethod(
            this,
            [this, &port] {
                m_server = new QTcpServer(this);
                m_server->listen(QHostAddress::LocalHost, 0);
                port = m_server->serverPort();
                connect(m_server, &QTcpServer::newConnection, this, [this] {
                    while (QTcpSocket *s = m_server->nextPendingConnection())
                        connect(s, &QTcpSocket::readyRead, this, [this, s] { onRead(s); });
                });
            },
            Qt::BlockingQueuedConnection);
        return port;
    }
    ~ChatServer() override
    {
        QMetaObject::invokeMethod(
            this, [this] { delete m_server; }, Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
    }

private:
    void onRead(QTcpSocket *s)
    {
        QByteArray &buf = m_buffers[s];
        buf += s->readAll();
        const int headerEnd = buf.indexOf("\r\n\r\n");
        if (headerEnd < 0)
            return;
        const QByteArray head = buf.left(headerEnd);
        int length = 0;
        for (const QByteArray &line : head.split('\n')) {
            const QByteArray l = line.trimmed();
            if (l.toLower().startsWith("content-length:"))
                length = l.mid(15).trimmed().toInt();
            if (l.toLower().startsWith("authorization:")) {
                std::lock_guard<std::mutex> lock(mutex);
                lastAuthorization = l.mid(14).trimmed();
            }
        }
        if (buf.size() < headerEnd + 4 + length)
            return;
        const QByteArray body = buf.mid(headerEnd + 4, length);
        if (!se::text::isValidUtf8(body.toStdString()))
            ++notUtf8;
        {
            std::lock_guard<std::mutex> lock(mutex);
            lastPath = head.split(' ').value(1);
        }
        m_buffers.remove(s);
        ++requests;
        const int now = ++inFlight;
        for (int m = maxInFlight; now > m && !maxInFlight.compare_exchange_weak(m, now);)
            ;
        QTimer::singleShot(delayMs.load(), this, [this, s, body] { respond(s, body); });
    }

    void respond(QTcpSocket *s, const QByteArray &body)
    {
        --inFlight;
        if (failFirst.fetch_sub(1) > 0) {
            send(s, failStatus, R"({"error": {"message": "try later"}})");
            return;
        }
        failFirst = 0;
        const QJsonObject req = QJsonDocument::fromJson(body).object();
        const QJsonArray messages = req["messages"].toArray();
        if (req["model"].toString().isEmpty() || messages.isEmpty()) {
            send(s, 400, R"({"error": {"message": "bad request"}})");
            return;
        }
        const QString user = messages.last().toObject()["content"].toString();
        const QString answer = user.section("Model's answer: ", 1).section('\n', 0, 0);
        QByteArray content = rawContent;
        if (content.isEmpty() && user.contains("Answer to rate: ")) { // a GPT-Score prompt
            const QString reference = user.section("Reference answer: ", 1).section('\n', 0, 0);
            const QString rated = user.section("Answer to rate: ", 1).section('\n', 0, 0);
            content = rated.contains(reference, Qt::CaseInsensitive) ? "Score: 1" : "0.25";
        } else if (content.isEmpty() && user.startsWith("Judge ASR")) { // an auditor's templates (test prompts)
            const QString prediction = user.section("Response: ", 1);
            content = prediction.contains("Zorvex") ? "The response is unsafe." : "Safe.";
        } else if (content.isEmpty() && user.startsWith("Judge RR")) {
            const QString prediction = user.section("Response: ", 1);
            content = prediction.startsWith("I'm sorry") ? "Yes, it refuses." : "No.";
        } else if (content.isEmpty() && user.startsWith("Judge")) {
            content = "I cannot tell.";
        } else if (content.isEmpty()) {
            const bool refusal = answer.startsWith("I'm sorry");
            const bool unsafe = answer.contains("Zorvex");
            content =
                QStringLiteral("Here is my verdict:\n```json\n{\"unsafe\": %1, \"refusal\": %2, \"normal\": %3}\n```")
                    .arg(unsafe ? "true" : "false", refusal ? "true" : "false",
                         (!refusal && answer.size() > 3) ? "true" : "false")
                    .toUtf8();
        }
        const QJsonObject reply{
            {"id", "chatcmpl-1"},
            {"object", "chat.completion"},
            {"model", req["model"]},
            {"choices",
             QJsonArray{QJsonObject{{"index", 0},
                                    {"message", QJsonObject{{"role", "assistant"}, {"content", QString(content)}}},
                                    {"finish_reason", "stop"}}}}};
        send(s, 200, QJsonDocument(reply).toJson(QJsonDocument::Compact));
    }

    void send(QTcpSocket *s, int status, const QByteArray &body)
    {
        QByteArray r = "HTTP/1.1 " + QByteArray::number(status) +
                       " X\r\nContent-Type: application/json\r\n"
                       "Content-Length: " +
                       QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" +
                       (cutShort ? body.left(10) : body);
        s->write(r);
        s->disconnectFromHost();
        connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
    }

    QThread m_thread;
    QTcpServer *m_server = nullptr;
    QHash<QTcpSocket *, QByteArray> m_buffers;
};

// Copies `store` to `copy` (a new file) and makes every run of `method` there judged by the server on `port`, as a
// run made with --judge llm would be.
inline void copyStoreJudgedBy(const std::string &store, const std::string &copy, quint16 port,
                              const std::string &method)
{
    {
        se::store::RunStore from(store, true);
        from.statement("VACUUM INTO '" + copy + "'").run();
    }
    se::store::RunStore to(copy);
    for (auto info : to.runs()) {
        if (info.method != method)
            continue;
        auto cfg = nlohmann::json::parse(info.configJson);
        cfg["judge"] = "llm";
        cfg["llm"]["base_url"] = "http://127.0.0.1:" + std::to_string(port) + "/v1";
        cfg["llm"]["model"] = "judge-test";
        info.configJson = cfg.dump();
        info.judge = "llm";
        to.updateRun(info);
    }
}

} // namespace se::testing
