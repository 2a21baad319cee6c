package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// Publish sends payload to every current subscriber of channel, on every
// client of this Redis.
//
// PUBLISH names no key, so a Cluster client would send each one to any
// node, which forwards it to the others over the cluster bus: two messages
// published one after the other could reach a subscriber in the opposite
// order. Publish routes it by the channel's slot instead, to the node
// where go-redis subscribes (that slot's master), so the messages of one
// publisher arrive in the order they were sent.
func (s *Store) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := s.check(ctx, "publish", channel); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	cmd := goredis.NewIntCmd(ctx, "publish", s.channelName(channel), payload)
	cmd.SetFirstKeyPos(1)
	_ = s.client.Process(ctx, cmd)
	if err := cmd.Err(); err != nil {
		return s.fail(ctx, "publish", channel, err)
	}
	return nil
}
