-- Commands are found by their operation (an operation resumed after a restart attaches to the
-- command of its step, finished or not, instead of sending it to the card again).
CREATE INDEX IF NOT EXISTS commands_operation ON commands (operation_id);
