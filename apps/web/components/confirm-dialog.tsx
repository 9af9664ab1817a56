'use client';
// A confirmation before anything is stopped: says what will happen and what is lost, and waits for an
// explicit yes. Escape or "Cancel" backs out. A native <dialog>, so focus and the backdrop come for free.
import { useEffect, useRef, type ReactNode } from 'react';

export interface ConfirmProps {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm(): void;
  onCancel(): void;
}

export function ConfirmDialog({ title, body, confirmLabel, onConfirm, onCancel }: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm"
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
      data-testid="confirm-dialog"
    >
      <div className="confirm__body">
        <h2 id="confirm-title">{title}</h2>
        <div>{body}</div>
      </div>
      <div className="confirm__actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button button--danger-solid" onClick={onConfirm} data-testid="confirm-yes">
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
