// accrue-till-demo: a small till that hosts the loyalty plugin exactly as a POS vendor would
// (QPluginLoader + qobject_cast on the public interface; it does not link the plugin).
//
//   accrue-till-demo [--socket PATH] [--till ID] [--loyalty-plugin FILE] [--check]
//
// (Not --plugin: QGuiApplication takes that one for its own generic plugins.)
// --check loads the plugin, builds the window, runs the event loop once and exits: 0 when the
// plugin loaded (the tests run it on the offscreen platform).
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QMessageBox>
#include <QPluginLoader>
#include <QTimer>

#include "TillWindow.h"
#include "accrue/till/TillLoyaltyInterface.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("accrue-till-demo");
  QCommandLineParser cli;
  cli.setApplicationDescription("A demo till hosting the Accrue loyalty plugin.");
  cli.addHelpOption();
  cli.addOption({"socket", "The agent's socket.", "path", "/run/accrue/agent.sock"});
  cli.addOption({"till", "This till's id.", "id", "till-demo"});
  cli.addOption({"loyalty-plugin",
                 "The plugin file (default: next to this program, then "
                 "/usr/lib/accrue).",
                 "file"});
  cli.addOption({"check", "Load the plugin, build the window, exit (0 = loaded)."});
  cli.process(app);
  const bool check = cli.isSet("check");

  QStringList candidates;
  if (cli.isSet("loyalty-plugin")) {
    candidates << cli.value("loyalty-plugin");
  } else {
    candidates << QDir(QCoreApplication::applicationDirPath()).filePath("libaccrue_till.so")
               << "/usr/lib/accrue/libaccrue_till.so";
  }
  QPluginLoader loader;
  accrue::till::TillLoyaltyInterface* loyalty = nullptr;
  QString why;
  for (const auto& file : candidates) {
    loader.setFileName(file);
    loyalty = qobject_cast<accrue::till::TillLoyaltyInterface*>(loader.instance());
    if (loyalty) break;
    why += file + ": " + loader.errorString() + "\n";
  }
  if (!loyalty) {
    const QString message = "No loyalty plugin could be loaded:\n" + why;
    if (check) {
      qCritical("%s", qPrintable(message));
    } else {
      QMessageBox::critical(nullptr, "accrue-till-demo", message);
    }
    return 1;
  }
  TillWindow window(loyalty, cli.value("till"));
  loyalty->connectToAgent(cli.value("socket"), cli.value("till"));
  window.show();
  if (check) QTimer::singleShot(0, &app, &QApplication::quit);
  return QApplication::exec();
}
