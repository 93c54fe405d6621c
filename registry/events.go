package registry

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// actionEvent is the "ECR Image Action" event of a change about to be
// committed by a write that expects revision rev of its key (a tag for a
// tagged push or an untag, the manifest otherwise). The write carries the
// event (announce), so it is published once the write is committed: right
// after it by store.write, or later by the relay when the writer died
// first. Its Nats-Msg-Id names the change and the revision it replaced,
// which is known before the commit and belongs to that commit alone; the
// event id is derived from it.
func (s *Service) actionEvent(action, repo, dg, tag, mediaType, artifactType string, rev uint64) outbox.Event {
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
	data, err := events.EncodeEvent(outbox.EventID(msgID), events.SourceECR, events.DetailECRImageAction, s.cfg.Account, s.cfg.Region, at, []string{}, detail)
	if err != nil {
		s.log.Error("build event", "err", err)
		return outbox.Event{}
	}
	return outbox.Event{Subject: events.SubjECREvent(repo, dg), MsgID: msgID, At: at, Data: data}
}

// announce makes w carry ev: the write's commit publishes it.
func announce(w natsutil.KVWrite, ev outbox.Event) natsutil.KVWrite {
	if ev.Subject == "" {
		return w
	}
	w.Header = nats.Header{}
	outbox.Attach(w.Header, ev)
	return w
}

// relayKeys are the keys whose writes carry events: manifests and tags.
var relayKeys = []string{"man.>", "tag.>"}
