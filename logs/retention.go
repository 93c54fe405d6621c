package logs

import (
	"context"
	"time"

	"github.com/berth-project/berth/events"
)

// runRetention purges, every RetentionInterval, the events of every group
// older than its retention. Reads hide such events already; the purge frees
// the space.
func (s *Service) runRetention(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		groups, err := s.listGroups(ctx)
		if err != nil {
			s.cfg.Log.Warn("retention: list groups", "err", err)
			continue
		}
		for _, g := range groups {
			if g.RetentionInDays > 0 {
				s.enforceRetention(ctx, g.Name, g.RetentionInDays)
			}
		}
	}
}

// enforceRetention purges the chunks of group ingested before its retention
// window. A chunk holds events at most MaxFuture newer than its ingestion,
// so a purged chunk holds only expired events.
func (s *Service) enforceRetention(ctx context.Context, group string, days int32) {
	cutoff := s.cfg.Now().Add(-time.Duration(days)*24*time.Hour - MaxFuture)
	subject := events.SubjLogsGroup(group)
	var first uint64
	_, err := s.scan(ctx, []string{subject}, scanFrom{time: cutoff}, func(c chunk) bool {
		first = c.seq
		return false
	})
	if err != nil {
		s.cfg.Log.Warn("retention: find cutoff", "group", group, "err", err)
		return
	}
	if first == 0 {
		// Nothing newer than the cutoff: is there anything at all?
		info, err := s.stream.Info(ctx)
		if err != nil {
			return
		}
		first = info.State.LastSeq + 1
	}
	if err := s.purge(ctx, subject, first); err != nil {
		s.cfg.Log.Warn("retention: purge", "group", group, "err", err)
	}
}
