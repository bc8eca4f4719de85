// Tells a barcode scanner from a person typing. Keyboard-wedge scanners "type" the code as
// keystrokes a few milliseconds apart and end with Enter; people take 80 ms or more between keys.
// Feed it every printable key and every Enter with the time it arrived.
#pragma once

#include <QString>

namespace accrue::till {

class ScanDetector {
 public:
  // A scan: at least kMinLength characters, every gap at most kMaxGapMs.
  static constexpr int kMinLength = 6;
  static constexpr qint64 kMaxGapMs = 40;

  void key(QChar c, qint64 atMs);
  // Enter: true when the keys since the last Enter came from a scanner.
  bool enter(qint64 atMs);
  void reset();

 private:
  int m_count = 0;
  qint64 m_last = -1;
  qint64 m_maxGap = 0;
};

}  // namespace accrue::till
