-- The card's answer to a command, kept with the command once it is done, so that a process
-- that restarts while an operation waits for it still gets the answer (ES5 outcome).
ALTER TABLE commands ADD COLUMN result BLOB;
