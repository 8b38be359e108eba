"""MediaPipe Tasks (face mesh, hands, pose) as plain-data landmark results, public API only."""
