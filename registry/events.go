package registry

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// publishAction publishes an "ECR Image Action" event on the EVENTS stream
// after the change it reports was committed. The message id is derived from
// the change (rev is the commit's revision when known), so a repeated
// publish of the same change is dropped by JetStream, and the event id is
// derived from it too. A failed publish is logged: the state is already
// committed and is the truth.
func (s *Service) publishAction(ctx context.Context, action, repo, dg, tag, mediaType, artifactType string, rev uint64) {
	detail := events.ECRImageAction{
		Result:            "SUCCESS",
		RepositoryName:    repo,
		ImageDigest:       dg,
		ActionType:        action,
		ImageTag:          tag,
		ManifestMediaType: mediaType,
		ArtifactMediaType: artifactType,
	}
	at := s.now()
	msgID := fmt.Sprintf("ecr.%s.%s.%s.%s.%d", action, repo, dg, tag, rev)
	if rev == 0 {
		msgID += "." + at.Format(time.RFC3339Nano)
	}
	ev, err := events.NewEvent(uuidFrom(msgID), events.SourceECR, events.DetailECRImageAction, s.cfg.Account, s.cfg.Region, at, []string{}, detail)
	if err != nil {
		s.log.Error("build event", "err", err)
		return
	}
	subject := events.SubjECREvent(repo, dg)
	ctx = context.WithoutCancel(ctx)
	for attempt := range 3 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = s.js.Publish(pctx, subject, mustJSON(ev), jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	s.log.Error("publish event", "subject", subject, "action", action, "err", err)
}

func (s *Service) publishDelete(ctx context.Context, repo, dg, tag, mediaType string) {
	s.publishAction(ctx, events.ECRActionDelete, repo, dg, tag, mediaType, "", 0)
}

// uuidFrom makes a version-4-shaped UUID from a hash of s.
func uuidFrom(s string) string {
	b := sha256.Sum256([]byte(s))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
