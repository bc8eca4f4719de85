#include "ScanDetector.h"

namespace accrue::till {

void ScanDetector::key(QChar, qint64 atMs) {
  if (m_count > 0) m_maxGap = qMax(m_maxGap, atMs - m_last);
  m_last = atMs;
  ++m_count;
}

bool ScanDetector::enter(qint64 atMs) {
  const bool scanned = m_count >= kMinLength && m_maxGap <= kMaxGapMs && atMs - m_last <= kMaxGapMs;
  reset();
  return scanned;
}

void ScanDetector::reset() {
  m_count = 0;
  m_last = -1;
  m_maxGap = 0;
}

}  // namespace accrue::till
