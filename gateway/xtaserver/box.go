package xtaserver

import (
	"context"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

func (s *Server) msgBox(ctx context.Context, c *call) (*reply, *xta.Fault) {
	if _, f := s.author(c); f != nil {
		return nil, f
	}
	return nil, xta.NewFault(xta.Internal, "%s is not available yet", c.op.Name)
}
