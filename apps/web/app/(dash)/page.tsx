// The dashboard opens on the Host View.
import { redirect } from 'next/navigation';

export default function Home() {
  redirect('/hosts');
}
