// accrue-till-demo: a small till that hosts the loyalty plugin exactly as a POS vendor would
// (QPluginLoader + qobject_cast on the public interface; it does not link the plugin).
//
//   accrue-till-demo [--socket PATH] [--till ID] [--plugin FILE]
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QMessageBox>
#include <QPluginLoader>

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
  cli.addOption({"plugin",
                 "The plugin file (default: next to this program, then "
                 "/usr/lib/accrue).",
                 "file"});
  cli.process(app);

  QStringList candidates;
  if (cli.isSet("plugin")) {
    candidates << cli.value("plugin");
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
    QMessageBox::critical(nullptr, "accrue-till-demo",
                          "No loyalty plugin could be loaded:\n" + why);
    return 1;
  }
  TillWindow window(loyalty, cli.value("till"));
  loyalty->connectToAgent(cli.value("socket"), cli.value("till"));
  window.show();
  return QApplication::exec();
}
