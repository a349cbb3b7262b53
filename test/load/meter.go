package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is what the gateway process, this process and the rest of the
// machine used during one or more measurement windows.
type usage struct {
	CPUSeconds  float64 `json:"cpu_s"`
	WallSeconds float64 `json:"wall_s"`
	// Cores is the gateway's CPU time per wall time.
	Cores float64 `json:"cores"`
	// CPUPerSubmissionMs is the gateway's CPU time per accepted submission.
	CPUPerSubmissionMs float64 `json:"cpu_per_submission_ms,omitempty"`
	PeakRSSMB          float64 `json:"peak_rss_mb"`
	RSSEndMB           float64 `json:"rss_end_mb"`
	// LoadgenCores is the CPU of the load generator (this process), which
	// runs on the same machine and takes CPU from the gateway.
	LoadgenCores float64 `json:"loadgen_cores"`
	// OtherCores is the CPU every other process on the machine used: on a
	// shared machine the measurements compete with other work.
	OtherCores float64 `json:"other_cores"`
	// IOSomePct is the share of the time in which some task of the machine
	// (ours included) waited for I/O (/proc/pressure/io).
	IOSomePct float64 `json:"io_pressure_some_pct"`

	loadgenCPU, otherCPU, ioStall float64
}

// add accumulates the usage of another window.
func (u *usage) add(v usage) {
	u.CPUSeconds += v.CPUSeconds
	u.WallSeconds += v.WallSeconds
	u.loadgenCPU += v.loadgenCPU
	u.otherCPU += v.otherCPU
	u.ioStall += v.ioStall
	u.PeakRSSMB = max(u.PeakRSSMB, v.PeakRSSMB)
	u.RSSEndMB = v.RSSEndMB
	u.finish(0)
}

// finish computes the rates; accepted > 0 sets the CPU per submission.
func (u *usage) finish(accepted int) {
	if u.WallSeconds <= 0 {
		return
	}
	u.Cores = u.CPUSeconds / u.WallSeconds
	u.LoadgenCores = u.loadgenCPU / u.WallSeconds
	u.OtherCores = u.otherCPU / u.WallSeconds
	u.IOSomePct = 100 * u.ioStall / u.WallSeconds
	if accepted > 0 {
		u.CPUPerSubmissionMs = u.CPUSeconds * 1000 / float64(accepted)
	}
}

// meter measures one window.
type meter struct {
	pid        int
	gw0, self0 procStat
	busy0      time.Duration
	io0        time.Duration
	t0         time.Time
}

// startMeter starts a window for the gateway pid; it resets the gateway's
// peak RSS so that the window's peak is its own.
func startMeter(pid int) (*meter, error) {
	m := &meter{pid: pid}
	if err := resetPeak(pid); err != nil {
		return nil, err
	}
	var err error
	if m.gw0, err = readProc(pid); err != nil {
		return nil, err
	}
	if m.self0, err = readProc(os.Getpid()); err != nil {
		return nil, err
	}
	m.busy0, m.io0 = machineBusy(), ioStall()
	m.t0 = time.Now()
	return m, nil
}

// stop ends the window.
func (m *meter) stop(accepted int) usage {
	wall := time.Since(m.t0).Seconds()
	gw, err1 := readProc(m.pid)
	self, err2 := readProc(os.Getpid())
	if err1 != nil || err2 != nil {
		return usage{}
	}
	u := usage{
		CPUSeconds:  (gw.cpu - m.gw0.cpu).Seconds(),
		WallSeconds: wall,
		PeakRSSMB:   mib(gw.hwm),
		RSSEndMB:    mib(gw.rss),
		loadgenCPU:  (self.cpu - m.self0.cpu).Seconds(),
		ioStall:     (ioStall() - m.io0).Seconds(),
	}
	u.otherCPU = max(0, (machineBusy()-m.busy0).Seconds()-u.CPUSeconds-u.loadgenCPU)
	u.finish(accepted)
	return u
}

// machineBusy is the CPU time of the whole machine that was not idle
// (/proc/stat, without idle and iowait).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, s := range f[1:] {
		n, _ := strconv.ParseInt(s, 10, 64)
		// user nice system idle iowait irq softirq steal (guest is in user)
		if i < 8 && i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTick
}

// ioStall is the total time in which some task waited for I/O
// (/proc/pressure/io), or 0 without pressure stall information.
func ioStall() time.Duration {
	b, err := os.ReadFile("/proc/pressure/io")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, v, ok := strings.Cut(line, "total=")
	if !ok {
		return 0
	}
	us, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return time.Duration(us) * time.Microsecond
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
